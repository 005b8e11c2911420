package io.policyloss.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The command line in a new JVM on the tests' class path, its output (both streams) into a log file. */
final class CliProcess {
    private CliProcess() {}

    static Process start(Path log, String... args) throws Exception {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "--enable-native-access=ALL-UNNAMED", "-cp", classpath, Main.class.getName()));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
