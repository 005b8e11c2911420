package io.policyloss.loss;

/**
 * A failed loss call: the C ABI's status, the argument it names and, for data errors, the first bad row. Argument
 * and data errors are also {@link IllegalArgumentException}s in spirit, but CUDA and memory failures are not, so
 * this is a plain runtime exception carrying the status.
 */
public class PolicyLossException extends RuntimeException {
    /** The pl_status values of the C ABI. */
    public enum Status { OK, INVALID_ARGUMENT, INVALID_DATA, UNSUPPORTED, NO_DEVICE, CUDA, INTERNAL }

    private final Status status;
    private final String argument;
    private final long row;

    public PolicyLossException(Status status, String argument, long row, String message) {
        super(message);
        this.status = status;
        this.argument = argument;
        this.row = row;
    }

    public Status status() {
        return status;
    }

    /** The argument the message names, e.g. "target". */
    public String argument() {
        return argument;
    }

    /** The first bad row of a data error, or -1. */
    public long row() {
        return row;
    }
}
