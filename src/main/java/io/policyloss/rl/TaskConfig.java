package io.policyloss.rl;

/**
 * Which built-in task, and its size.
 *
 * @param name "addition", "sort" or "digit-sum"
 * @param size digits per operand (addition), digits to sort (sort) or digits to write (digit-sum)
 */
public record TaskConfig(String name, int size) {
    private static final String NAMES = "must be \"addition\", \"sort\" or \"digit-sum\"";

    public TaskConfig {
        if (name == null) throw new IllegalArgumentException("task.name: " + NAMES);
        create(name, size); // validates both fields
    }

    public Task create() {
        return create(name, size);
    }

    private static Task create(String name, int size) {
        return switch (name) {
            case "addition" -> new AdditionTask(size);
            case "sort" -> new SortDigitsTask(size);
            case "digit-sum" -> new DigitSumTask(size);
            default -> throw new IllegalArgumentException("task.name: " + NAMES + ", got \"" + name + "\"");
        };
    }
}
