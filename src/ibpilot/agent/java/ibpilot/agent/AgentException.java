package ibpilot.agent;

/** An error answered to the client as {@code "<kind>: <message>"}. */
final class AgentException extends Exception {
    final String kind;

    AgentException(String kind, String message) {
        super(message, null, false, false);
        this.kind = kind;
    }
}
