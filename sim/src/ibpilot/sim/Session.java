package ibpilot.sim;

import ibpilot.json.Json;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What ends or interrupts a logged-in session: the scenario timers (re-login required, kick-out,
 * {@code auto_restart_in_s}), the Lock and Exit wall-clock timer, and the auto restart / auto logoff they lead to
 * (gateway-ui.md §5.3).
 */
final class Session {
    static final long LOCK_CHECK_MS = 250;
    private final Sim sim;
    private final List<Future<?>> timers = new CopyOnWriteArrayList<>();
    private volatile Future<?> lockTimer;
    private final Set<String> once = ConcurrentHashMap.newKeySet();

    Session(Sim sim) {
        this.sim = sim;
    }

    /** Arms the timers of a session that just logged in. */
    void schedule() {
        cancelTimers();
        Scenario sc = sim.sc;
        // each scenario timer fires once per JVM (armed at the first login that reaches it)
        Double relogin = sc.num("relogin_after_s", null);
        if (relogin != null && once.add("relogin")) timers.add(Sim.timer(this::reloginRequired, (long) (relogin * 1000)));
        Double kick = sc.num("kick_out_after_s", null);
        if (kick != null && once.add("kick")) timers.add(Sim.timer(this::kickOut, (long) (kick * 1000)));
        Double ar = sc.num("auto_restart_in_s", null);
        if (ar != null && once.add("restart")) timers.add(Sim.timer(() -> lockExitAction("scenario auto_restart_in_s"), (long) (ar * 1000)));
        scheduleLockTimer();
    }

    private void cancelTimers() {
        for (Future<?> f : timers) if (f != null) f.cancel(false);
        timers.clear();
    }

    /**
     * Arms the Lock and Exit action for the next occurrence (strictly after now) of the configured hh:mm AM/PM. The
     * wall clock is compared every {@link #LOCK_CHECK_MS} ms (not a single delay), so a clock step still fires it at
     * the right minute.
     */
    void scheduleLockTimer() {
        Future<?> old = lockTimer;
        if (old != null) old.cancel(false);
        lockTimer = null;
        if (!sim.loggedIn) return;
        SimSettings settings = sim.settings;
        try {
            String[] hm = settings.lockTime.trim().split(":");
            int h = Integer.parseInt(hm[0]) % 12 + (settings.lockPm ? 12 : 0);
            int mi = Integer.parseInt(hm[1]);
            LocalDateTime now = LocalDateTime.now();
            LocalDateTime at = now.toLocalDate().atTime(LocalTime.of(h, mi));
            if (!at.isAfter(now)) at = at.plusDays(1);
            LocalDateTime due = at;
            String why = "wall clock " + settings.lockTime + (settings.lockPm ? " PM" : " AM");
            AtomicBoolean fired = new AtomicBoolean();
            lockTimer = Sim.ticker(() -> {
                if (LocalDateTime.now().isBefore(due) || !fired.compareAndSet(false, true)) return;
                Future<?> self = lockTimer;
                if (self != null) self.cancel(false);
                lockExitAction(why);
            }, LOCK_CHECK_MS);
            Sim.log("lock_exit_scheduled", "action", settings.lockAction, "at", at.toString());
        } catch (RuntimeException e) {
            Sim.log("error", "where", "lock timer", "message", "bad time " + settings.lockTime);
        }
    }

    /** TWS File > Restart... confirmed: the same restart as the Lock and Exit one, now. */
    void restartNow(String why) {
        if (!sim.loggedIn || sim.exiting) return;
        autoRestart(why);
    }

    /** The session is over: timers cancelled, API stopped. */
    void end(String reason) {
        sim.loggedIn = false;
        cancelTimers();
        Future<?> lt = lockTimer;
        if (lt != null) lt.cancel(false);
        sim.api.stop();
        Sim.log("logged_out", "reason", reason);
    }

    private void reloginRequired() {
        if (!sim.loggedIn || sim.exiting) return;
        end("re-login required");
        sim.setState("relogin");
        Dialogs.Win w = Dialogs.reloginRequired(sim);
        sim.autoClick(w, "Re-login");
        w.answer.thenAccept(a -> {
            if ("Re-login".equals(a)) Ui.edt(() -> sim.flow.beginFlow(sim.user, null, sim.mode, LoginFlow.Kind.REAUTH));
            else {
                sim.setState("logged_out");
                Sim.log("relogin_declined", "button", a);
            }
        });
    }

    private void kickOut() {
        if (!sim.loggedIn || sim.exiting) return;
        end("existing session detected (another login)");
        sim.setState("kicked_out");
        Dialogs.Win w = Dialogs.existingSession(sim, true);
        sim.autoClick(w, "Continue Login");
        w.answer.thenAccept(a -> {
            Sim.log("existing_session_answer", "button", a);
            if ("Continue Login".equals(a)) Ui.edt(() -> sim.flow.beginFlow(sim.user, null, sim.mode, LoginFlow.Kind.REAUTH));
            else sim.setState("logged_out");
        });
    }

    private void lockExitAction(String why) {
        if (sim.exiting) return;
        if ("restart".equals(sim.settings.lockAction)) autoRestart(why);
        else autoLogoff(why);
    }

    /** The name of the per-user settings subdirectory that holds the autorestart file (see sim/README.md). */
    static String userSubdir(String u) {
        try {
            byte[] h = MessageDigest.getInstance("MD5").digest(
                    (u == null ? "" : u.toLowerCase()).getBytes(StandardCharsets.UTF_8));
            StringBuilder b = new StringBuilder();
            for (byte x : h) {
                b.append((char) ('a' + ((x >> 4) & 0xf)));
                b.append((char) ('a' + (x & 0xf)));
            }
            return b.toString();
        } catch (Exception e) {
            return "ibpilotsimuser";
        }
    }

    private void autoRestart(String why) {
        Sim.log("auto_restart", "why", why);
        Dialogs.restartInProgress(sim);
        File sub = new File(sim.dir, userSubdir(sim.user));
        File f = new File(sub, "autorestart");
        try {
            sub.mkdirs();
            Files.write(f.toPath(), (Json.write(Json.obj("user", sim.user, "mode", sim.mode,
                    "created", System.currentTimeMillis() / 1000.0)) + "\n").getBytes(StandardCharsets.UTF_8));
            Sim.log("autorestart", "path", f.getAbsolutePath());
        } catch (Exception e) {
            Sim.log("error", "where", "autorestart", "message", String.valueOf(e));
        }
        end("auto restart");
        Sim.timer(() -> sim.exit(0, "auto restart"), sim.step);
    }

    private void autoLogoff(String why) {
        Sim.log("auto_logoff", "why", why);
        end("auto logoff");
        Sim.timer(() -> sim.exit(0, "auto logoff"), sim.step);
    }
}
