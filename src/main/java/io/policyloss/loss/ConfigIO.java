package io.policyloss.loss;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
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

    /** A JSON or YAML file as a tree (chosen by the file name, as {@link #read}). */
    public static JsonNode readTree(Path file) {
        try {
            return (isYaml(file) ? YAML : JSON).readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("config " + file + ": " + e.getOriginalMessage(), e);
        } catch (NoSuchFileException e) {  // a path mistyped: the caller's input, not the disk's failure
            throw new IllegalArgumentException("config: no file " + file, e);
        } catch (IOException e) {
            throw new UncheckedIOException("config " + file + ": cannot read", e);
        }
    }

    /**
     * {@code base} with the fields of {@code overrides} replaced, objects merged field by field (so a file may set
     * one field of a nested record and keep the rest), then validated by the record's constructor.
     */
    public static <T> T merge(T base, JsonNode overrides, Class<T> type) {
        JsonNode merged = mergeTrees(JSON.valueToTree(base), overrides);
        try {
            return JSON.treeToValue(merged, type);
        } catch (JsonProcessingException e) {
            throw invalid(e, type, "config");
        }
    }

    private static JsonNode mergeTrees(JsonNode base, JsonNode overrides) {
        if (!(base instanceof ObjectNode b) || overrides == null || !overrides.isObject()) return overrides;
        ObjectNode out = b.deepCopy();
        overrides.fields().forEachRemaining(f -> out.set(f.getKey(), mergeTrees(out.get(f.getKey()), f.getValue())));
        return out;
    }

    private static boolean isYaml(Path file) {
        String name = file.getFileName().toString();
        return name.endsWith(".yaml") || name.endsWith(".yml");
    }

    private static <T> T parse(ObjectMapper mapper, String text, Class<T> type, String format) {
        try {
            return mapper.readValue(text, type);
        } catch (JsonProcessingException e) {
            throw invalid(e, type, format);
        }
    }

    private static IllegalArgumentException invalid(JsonProcessingException e, Class<?> type, String format) {
        // The validation message of the record (e.g. "clampP: must be in [0, 1), got 1.5") is the cause.
        Throwable root = e;
        while (root.getCause() != null) root = root.getCause();
        String detail = root instanceof IllegalArgumentException || root instanceof NullPointerException
                ? root.getMessage() : e.getOriginalMessage();
        return new IllegalArgumentException("invalid " + format + " for " + type.getSimpleName() + ": " + detail, e);
    }

    private static String write(ObjectMapper mapper, Object value) {
        try {
            return mapper.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + value.getClass().getSimpleName(), e);
        }
    }
}
