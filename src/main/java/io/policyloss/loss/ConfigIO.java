package io.policyloss.loss;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads and writes configuration records as JSON or YAML (chosen by the file name: .yaml / .yml, else JSON).
 * Unknown fields are errors, so a misspelt option fails instead of silently keeping its default.
 */
public final class ConfigIO {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private ConfigIO() {}

    public static <T> T fromJson(String text, Class<T> type) {
        return parse(JSON, text, type, "JSON");
    }

    public static <T> T fromYaml(String text, Class<T> type) {
        return parse(YAML, text, type, "YAML");
    }

    public static String toJson(Object value) {
        return write(JSON, value);
    }

    public static String toYaml(Object value) {
        return write(YAML, value);
    }

    public static <T> T read(Path file, Class<T> type) {
        try {
            String text = Files.readString(file);
            return isYaml(file) ? fromYaml(text, type) : fromJson(text, type);
        } catch (IOException e) {
            throw new UncheckedIOException("config " + file + ": cannot read", e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config " + file + ": " + e.getMessage(), e);
        }
    }

    public static void write(Path file, Object value) {
        try {
            Files.writeString(file, isYaml(file) ? toYaml(value) : toJson(value));
        } catch (IOException e) {
            throw new UncheckedIOException("config " + file + ": cannot write", e);
        }
    }

    private static boolean isYaml(Path file) {
        String name = file.getFileName().toString();
        return name.endsWith(".yaml") || name.endsWith(".yml");
    }

    private static <T> T parse(ObjectMapper mapper, String text, Class<T> type, String format) {
        try {
            return mapper.readValue(text, type);
        } catch (JsonProcessingException e) {
            // The validation message of the record (e.g. "clampP: must be in [0, 1), got 1.5") is the cause.
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            String detail = root instanceof IllegalArgumentException ? root.getMessage() : e.getOriginalMessage();
            throw new IllegalArgumentException("invalid " + format + " for " + type.getSimpleName() + ": " + detail, e);
        }
    }

    private static String write(ObjectMapper mapper, Object value) {
        try {
            return mapper.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }
}
