package io.policyloss.cli;

import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainingRun;
import java.awt.BasicStroke;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToDoubleFunction;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** PNG line charts of a metric over steps, every run of a comparison on one chart. */
final class Plots {
    private Plots() {}

    /**
     * @param references horizontal lines (e.g. AEPO targets, AEnt's band) as name, value pairs
     */
    static void lines(Path png, String title, String yAxis, List<TrainingRun.Result> runs,
            ToDoubleFunction<StepMetrics> metric, List<Reference> references) {
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(900).height(520).title(title).xAxisTitle("step")
                .yAxisTitle(yAxis).build();
        chart.getStyler().setMarkerSize(0);
        int longest = 1;
        for (TrainingRun.Result run : runs) {
            double[] x = new double[run.steps().size()], y = new double[x.length];
            for (int i = 0; i < x.length; ++i) {
                x[i] = run.steps().get(i).step();
                y[i] = metric.applyAsDouble(run.steps().get(i));
            }
            longest = Math.max(longest, x.length);
            if (x.length > 0) chart.addSeries(run.config().name(), x, y);
        }
        for (Reference r : references) {
            XYSeries s = chart.addSeries(r.name(), new double[] {0, longest - 1}, new double[] {r.value(), r.value()});
            s.setMarker(SeriesMarkers.NONE);
            s.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
                    new float[] {6f, 4f}, 0f)); // dashed
        }
        try {
            BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("plot " + png + ": cannot write", e);
        }
    }

    record Reference(String name, double value) {}
}
