package io.policyloss.torch;

/**
 * The shape of the small decoder-only transformer.
 *
 * @param layers decoder blocks
 * @param width the model width (embedding size)
 * @param heads attention heads (must divide width)
 * @param context the longest sequence, prompt plus response
 */
public record ModelConfig(int layers, int width, int heads, int context) {
    public ModelConfig {
        positive(layers, "layers");
        positive(width, "width");
        positive(heads, "heads");
        positive(context, "context");
        if (width % heads != 0)
            throw new IllegalArgumentException("heads: must divide width (" + width + "), got " + heads);
    }

    /** Two layers of width 64 with 4 heads, 24 positions: trains in seconds on a laptop CPU. */
    public static ModelConfig small() {
        return new ModelConfig(2, 64, 4, 24);
    }

    private static void positive(int v, String name) {
        if (v < 1) throw new IllegalArgumentException(name + ": must be >= 1, got " + v);
    }
}
