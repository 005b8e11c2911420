package io.policyloss.rl;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.StringVector;
import org.bytedeco.pytorch.Tensor;

/**
 * The names and shapes of a module's tensors (parameters and buffers, submodules' by dotted name), and of those a saved
 * module holds. libtorch's {@code Module::load} takes each tensor of the module's name whole, whatever its shape, and
 * reads none the module lacks: a file saved from a wider or deeper model loads without a word and fails later, or
 * never. Comparing the two first tells such a file from the config's model before anything is loaded.
 */
final class SavedShapes {
    private SavedShapes() {}

    /** The first difference between the file's tensors and the model's, or null where they agree. */
    static String difference(InputArchive saved, Module model) {
        Map<String, List<Long>> file = of(saved, "", new TreeMap<>()), own = of(model);
        for (var e : file.entrySet()) {
            List<Long> want = own.get(e.getKey());
            if (want == null) return e.getKey() + " is in the file, not in the config's model";
            if (!want.equals(e.getValue()))
                return e.getKey() + " is " + e.getValue() + " in the file, " + want + " in the config's model";
        }
        for (String name : own.keySet())
            if (!file.containsKey(name)) return name + " is in the config's model, not in the file";
        return null;
    }

    private static Map<String, List<Long>> of(Module model) {
        Map<String, List<Long>> out = new TreeMap<>();
        for (StringTensorDict tensors : List.of(model.named_parameters(true), model.named_buffers(true)))
            for (long i = 0; i < tensors.size(); ++i)
                out.put(tensors.get(i).key().getString(), shape(tensors.get(i).value()));
        return out;
    }

    /** Each key a tensor or a submodule's archive; anything else (TorchScript's "training" flag) is no tensor. */
    private static Map<String, List<Long>> of(InputArchive archive, String prefix, Map<String, List<Long>> out) {
        StringVector keys = archive.keys();
        for (long i = 0; i < keys.size(); ++i) {
            String key = keys.get(i).getString();
            Tensor t = new Tensor();
            InputArchive child = new InputArchive();
            if (archive.try_read(key, t)) out.put(prefix + key, shape(t));
            else if (archive.try_read(key, child)) of(child, prefix + key + ".", out);
        }
        return out;
    }

    private static List<Long> shape(Tensor t) {
        Objects.requireNonNull(t, "t");
        List<Long> out = new ArrayList<>();
        for (long d = 0; d < t.dim(); ++d) out.add(t.size(d));
        return out;
    }
}
