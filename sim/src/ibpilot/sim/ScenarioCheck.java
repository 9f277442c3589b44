package ibpilot.sim;

import ibpilot.json.Json;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Validates many scenario files in one JVM, for the property tests and fuzzers (tests/property, fuzz/).
 * Reads stdin: one JSON string per line, the text of a scenario file. Writes one line per input:
 * {@code ok}, {@code bad <message>} (Scenario.BadScenario: the launcher's exit 2), or
 * {@code crash <exception>: <message>} (anything else escaping Scenario.load: a bug). Runs the same
 * Scenario.load the simulator's launcher runs, on a real file. Not used by the simulator itself.
 */
public final class ScenarioCheck {
    private ScenarioCheck() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        Path file = Files.createTempFile("ibpilot-scenario-check", ".json");
        try {
            String line;
            while ((line = in.readLine()) != null) {
                String verdict;
                try {
                    Object text = Json.parse(line);
                    if (!(text instanceof String)) throw new IllegalArgumentException("input line is not a JSON string");
                    Files.write(file, ((String) text).getBytes(StandardCharsets.UTF_8));
                    Scenario.load(file.toString());
                    verdict = "ok";
                } catch (Scenario.BadScenario e) {
                    verdict = "bad " + e.getMessage();
                } catch (Throwable e) {
                    verdict = "crash " + e;
                }
                out.println(verdict.replace('\n', ' ').replace('\r', ' '));
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
