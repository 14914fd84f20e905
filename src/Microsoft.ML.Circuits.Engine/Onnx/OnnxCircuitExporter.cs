using Microsoft.ML.Circuits.Layers;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Onnx;

/// <summary>
/// The values of an exported circuit's graph that callers may build on (the ML.NET anomaly transformer adds its score
/// and predicted label from them).
/// </summary>
/// <param name="Graph">The graph, with input <c>pixels</c> and outputs <c>log_likelihood</c> and <c>bits_per_dimension</c> declared.</param>
/// <param name="PixelRows">(D, C, N) int64: for pixel d, channel c and image n the row (d·C + c)·Categories + value (value 0 at NaN when pixels may be missing).</param>
/// <param name="LogLikelihood">(N) float, the normalised natural-log likelihood.</param>
/// <param name="BitsPerDimension">(N) float.</param>
internal sealed record OnnxCircuitGraph(OnnxGraph Graph, string PixelRows, string LogLikelihood, string BitsPerDimension);

/// <summary>
/// Writes a circuit as an ONNX graph of standard operators, read from its layer specs: the input layer's
/// log-probability table and every layer's weights (after reparameterisation) and log Z become initialisers, and every
/// folded layer becomes the gather, masking and log-sum-exp contraction its TorchSharp layer computes (layout
/// (F, H, N, K) as in <see cref="InnerLayer"/>; the guarded max-subtraction of <see cref="Semirings.Semiring"/>).
/// </summary>
internal static class OnnxCircuitExporter
{
    public const string PixelsInput = "pixels";
    public const string LogLikelihoodOutput = "log_likelihood";
    public const string BitsPerDimensionOutput = "bits_per_dimension";

    static readonly object[] BatchOnly = [OnnxGraph.BatchDimension];

    /// <summary>Writes the model of <paramref name="circuit"/> to <paramref name="stream"/>.</summary>
    public static void Export(TensorizedCircuit circuit, Stream stream, OnnxExportOptions options)
    {
        var built = Build(circuit, options);
        Write(built.Graph, circuit, stream);
    }

    /// <summary>Serialises a built graph with the circuit's description in the model's metadata.</summary>
    public static void Write(OnnxGraph graph, TensorizedCircuit circuit, Stream stream, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        var d = circuit.Description;
        var metadata = new Dictionary<string, string>
        {
            ["circuit_description"] = d.ToJson(),
            ["parameter_count"] = circuit.ParameterCount.Total.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (extraMetadata is not null) foreach (var (k, v) in extraMetadata) metadata[k] = v;
        graph.Write(stream, "probabilistic_circuit",
            $"Tensorized probabilistic circuit {d}: exact normalised log-likelihood (natural log) and bits per dimension of each image.", metadata);
    }

    /// <summary>Builds the graph of <paramref name="circuit"/>.</summary>
    public static OnnxCircuitGraph Build(TensorizedCircuit circuit, OnnxExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(circuit);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var g = new OnnxGraph();
        var d = circuit.Description;

        var (rows, missing, missingCount) = PixelRows(g, d, options);
        var outputs = new List<string> { InputRegions(g, circuit, InputLayer(g, circuit, rows, missing)) };
        foreach (var layer in circuit.Layers)
            outputs.Add(Layer(g, layer, [.. layer.Spec.Sources.Select(s => outputs[s])]));

        float logZ = new Queries.PartitionQuery(circuit, Semirings.Semiring.Scoring).Evaluate().item<float>();
        string root = g.Add("Reshape", "root", [outputs[^1], g.Ints(-1)]);
        string ll = g.Add("Sub", "root", [root, g.Scalar("log_partition", logZ)], output: LogLikelihoodOutput);
        string bpd;
        if (missingCount is null)
            bpd = g.Add("Mul", "root", [ll, g.Scalar("minus_inverse_ln2_dimensions", (float)(-1 / (Math.Log(2) * d.Dimensions)))], output: BitsPerDimensionOutput);
        else
        {
            // Observed values = C·(D − missing pixels); none observed gives NaN, as the transformer reports.
            string observed = g.Add("Sub", "root", [g.Scalar("variables", d.Variables), missingCount]);
            string denominator = g.Add("Mul", "root", [observed, g.Scalar("channels_ln2", (float)(d.Channels * Math.Log(2)))]);
            string ratio = g.Add("Div", "root", [g.Add("Neg", "root", [ll]), denominator]);
            string nothingObserved = g.Add("Equal", "root", [observed, g.Scalar("no_variables", 0f)]);
            bpd = g.Add("Where", "root", [nothingObserved, g.Scalar("not_a_number", float.NaN), ratio], output: BitsPerDimensionOutput);
        }
        g.AddOutput(ll, OnnxElementType.Float, BatchOnly, missing is null
            ? "log p(x) = log c(x) − log Z, natural log, exact and normalised."
            : "log p(x_observed): the exact marginal with NaN pixels summed out, natural log.");
        g.AddOutput(bpd, OnnxElementType.Float, BatchOnly, missing is null ? $"−log p(x) / (ln 2 · {d.Dimensions})." : "−log p(x_observed) / (ln 2 · observed values).");
        return new OnnxCircuitGraph(g, rows, ll, bpd);
    }

    /// <summary>
    /// Declares <c>pixels</c> and turns it into (D, C, N) int64 rows of the input table; with missing pixels also a
    /// (D, N, 1) bool mask of the missing pixels and their (N) float count.
    /// </summary>
    static (string Rows, string? Missing, string? MissingCount) PixelRows(OnnxGraph g, CircuitDescription d, OnnxExportOptions options)
    {
        long h = d.ImageHeight, w = d.ImageWidth, c = d.Channels, vars = d.Variables;
        object[] dims = options.Shape == OnnxPixelShape.Flat
            ? [OnnxGraph.BatchDimension, c * h * w]
            : options.ChannelsLast ? [OnnxGraph.BatchDimension, h, w, c] : [OnnxGraph.BatchDimension, c, h, w];
        bool isByte = options.PixelType == OnnxPixelType.Byte;
        g.AddInput(PixelsInput, isByte ? OnnxElementType.UInt8 : OnnxElementType.Float, dims,
            $"Images, {(isByte ? "uint8 0..255" : $"float, times {options.PixelScale} then rounded and clipped to 0..{d.Categories - 1}")}, " +
            $"shape [{string.Join(", ", dims)}]{(options.ChannelsLast ? " (channels last)" : "")}.");
        const string s = "pixels";
        string values;
        string? missing = null, missingCount = null;
        if (isByte && d.Categories >= 256)
            values = g.Add("Cast", s, [PixelsInput], [("to", (long)OnnxElementType.Int64)]);
        else
        {
            string x = isByte ? g.Add("Cast", s, [PixelsInput], [("to", (long)OnnxElementType.Float)]) : PixelsInput;
            if (options.MissingPixels)
            {
                string nan = g.Add("IsNaN", s, [x]);
                x = g.Add("Where", s, [nan, g.Scalar("pixel_nan_replacement", 0f), x]);
                // Per value → per pixel (NaN in any channel), (N, D) → (D, N, 1).
                string nanValues = g.Add("Cast", s, [nan], [("to", (long)OnnxElementType.Float)]);
                nanValues = options.ChannelsLast
                    ? g.Add("Reshape", s, [nanValues, g.Ints(0, vars, c)])
                    : g.Add("Reshape", s, [nanValues, g.Ints(0, c, vars)]);
                string perPixel = g.Add("ReduceMax", s, [nanValues], [("axes", new long[] { options.ChannelsLast ? 2 : 1 }), ("keepdims", 0L)]);
                missingCount = g.Add("ReduceSum", s, [perPixel, g.Ints(1)], [("keepdims", 0L)]);
                string byVariable = g.Add("Unsqueeze", s, [g.Add("Transpose", s, [perPixel], [("perm", new long[] { 1, 0 })]), g.Ints(2)]);
                missing = g.Add("Cast", s, [byVariable], [("to", (long)OnnxElementType.Bool)]);
            }
            if (options.PixelScale != 1f) x = g.Add("Mul", s, [x, g.Scalar("pixel_scale", options.PixelScale)]);
            x = g.Add("Round", s, [x]);
            x = g.Add("Clip", s, [x, g.Scalar("pixel_min", 0f), g.Scalar("pixel_max", d.Categories - 1)]);
            values = g.Add("Cast", s, [x], [("to", (long)OnnxElementType.Int64)]);
        }
        // (N, C, D) planar or (N, D, C) interleaved → (D, C, N).
        string shaped = options.ChannelsLast
            ? g.Add("Reshape", s, [values, g.Ints(0, vars, c)])
            : g.Add("Reshape", s, [values, g.Ints(0, c, vars)]);
        string transposed = g.Add("Transpose", s, [shaped], [("perm", options.ChannelsLast ? new long[] { 1, 2, 0 } : [2, 1, 0])]);
        var offsets = new long[vars * c];
        for (long v = 0; v < vars; v++)
            for (long ch = 0; ch < c; ch++)
                offsets[v * c + ch] = (v * c + ch) * d.Categories;
        return (g.Add("Add", s, [transposed, g.Constant("input/row_offsets", offsets, vars, c, 1)]), missing, missingCount);
    }

    /// <summary>The categorical input layer: (D·P, N, K_in) log-probabilities of the pixels.</summary>
    static string InputLayer(OnnxGraph g, TensorizedCircuit circuit, string rows, string? missing)
    {
        var input = circuit.Input;
        long vars = input.Variables, c = input.Channels, n = input.Categories, p = input.Replicas, k = input.Units;
        const string s = "input";
        var table = input.LogProbabilities().reshape(vars * c * n, p * k);
        string picked = g.Add("Gather", s, [g.Constant("input/log_probabilities", Floats(table), vars * c * n, p * k), rows], [("axis", 0L)]);
        // (D, C, N, P·K) → (D, N, P·K): the product over channels.
        string perVariable = c == 1
            ? g.Add("Squeeze", s, [picked, g.Ints(1)])
            : g.Add("ReduceSum", s, [picked, g.Ints(1)], [("keepdims", 0L)]);
        // A missing pixel's units are summed out: log 1 = 0 (every unit is normalised).
        if (missing is not null) perVariable = g.Add("Where", s, [missing, g.Scalar("input/summed_out", 0f), perVariable]);
        if (p == 1) return perVariable;
        string split = g.Add("Reshape", s, [perVariable, g.Ints(vars, -1, p, k)]);
        string ordered = g.Add("Transpose", s, [split], [("perm", new long[] { 0, 2, 1, 3 })]);
        return g.Add("Reshape", s, [ordered, g.Ints(vars * p, -1, k)]);
    }

    /// <summary>Input regions: sums of input-layer rows (skipped when each region is one row, in order), (R, N, K_in).</summary>
    static string InputRegions(OnnxGraph g, TensorizedCircuit circuit, string inputs)
    {
        var plan = circuit.Plan;
        int rows = plan.Variables * plan.Replicas, arity = plan.InputRows.Max(r => r.Length);
        bool identity = arity == 1 && plan.InputRows.Length == rows && plan.InputRows.Select((r, i) => r[0] == i).All(b => b);
        if (identity) return inputs;
        const string s = "input_regions";
        long regions = plan.InputRows.Length;
        if (arity == 1)
            return g.Add("Gather", s, [inputs, g.Constant("input_regions/gather", plan.InputRows.Select(r => (long)r[0]).ToArray(), regions)], [("axis", 0L)]);
        var index = new long[regions * arity];
        var mask = new bool[regions * arity];
        for (int r = 0; r < regions; r++)
            for (int a = 0; a < plan.InputRows[r].Length; a++)
            {
                index[r * arity + a] = plan.InputRows[r][a];
                mask[r * arity + a] = true;
            }
        string gathered = g.Add("Gather", s, [inputs, g.Constant("input_regions/gather", index, regions, arity)], [("axis", 0L)]);
        if (mask.Any(m => !m))
            gathered = g.Add("Where", s, [g.Constant("input_regions/mask", mask, regions, arity, 1, 1), gathered, g.Scalar("input_regions/zero", 0f)]);
        return g.Add("ReduceSum", s, [gathered, g.Ints(1)], [("keepdims", 0L)]);
    }

    /// <summary>One folded layer: (F, N, K_out) from its sources' outputs.</summary>
    static string Layer(OnnxGraph g, InnerLayer layer, string[] sources)
    {
        var spec = layer.Spec;
        string s = $"layer{spec.Index}";
        long f = spec.Folds, h = spec.Arity, ki = spec.InputUnits, ko = spec.OutputUnits;

        // Gather (F, H, N, K_in) from the concatenated sources; padded slots read row 0 and are masked by the layer.
        string concatenated = sources.Length == 1 ? sources[0] : g.Add("Concat", s, sources, [("axis", 0L)]);
        var index = spec.Gather.Select((i, j) => spec.Mask[j] ? (long)i : 0L).ToArray();
        string x = g.Add("Gather", s, [concatenated, g.Constant($"{s}/gather", index, f, h)], [("axis", 0L)]);
        string? mask = spec.IsPadded ? g.Constant($"{s}/mask", spec.Mask.AsSpan(), f, h, 1, 1) : null;

        switch (spec.Kind)
        {
            case LayerSpecKind.CP:
            {
                string w = g.Constant($"{s}/weight", Floats(((CpLayer)layer).Weights()), f, h, ki, ko);
                return SumSlots(g, s, LogMatMul(g, s, x, w), mask, slotAxis: 1);
            }
            case LayerSpecKind.CPXS:
            case LayerSpecKind.CPS:
            {
                var shared = (SharedCpLayer)layer;
                string w = g.Constant($"{s}/weight", Floats(shared.Weights()), h, ki, ko);
                // (F, H, N, K) → (H, F·N, K): one product per slot, shared by every fold.
                string slots = g.Add("Transpose", s, [x], [("perm", new long[] { 1, 0, 2, 3 })]);
                slots = g.Add("Reshape", s, [slots, g.Ints(h, -1, ki)]);
                string y = g.Add("Reshape", s, [LogMatMul(g, s, slots, w), g.Ints(h, f, -1, ko)]);
                string? slotMask = mask is null ? null
                    : g.Constant($"{s}/slot_mask", Transpose(spec.Mask, (int)f, (int)h), h, f, 1, 1);
                string result = SumSlots(g, s, y, slotMask, slotAxis: 0);
                if (layer is ScaledSharedCpLayer scaled)
                    result = g.Add("Add", s, [result, g.Constant($"{s}/log_scale", Floats(scaled.LogScale()), f, 1, ko)]);
                return result;
            }
            case LayerSpecKind.UncollapsedCP:
            {
                var u = (UncollapsedCpLayer)layer;
                long r = u.Rank;
                string a = g.Constant($"{s}/input_weight", Floats(Parameterization.Weights(u.InputWeight, spec.Parameter("input_weight"), u.Reparameterization)), f, h, ki, r);
                string b = g.Constant($"{s}/output_weight", Floats(Parameterization.Weights(u.OutputWeight, spec.Parameter("output_weight"), u.Reparameterization)), f, r, ko);
                string z = SumSlots(g, s, LogMatMul(g, s, x, a), mask, slotAxis: 1);
                return LogMatMul(g, s, z, b);
            }
            case LayerSpecKind.Tucker:
            {
                if (h != 2 || spec.IsPadded)
                    throw new InvalidOperationException($"Tucker layer {spec.Index} must have arity 2 without padding (it has arity {h}).");
                string w = g.Constant($"{s}/weight", Floats(((TuckerLayer)layer).Weights()), f, ki * ki, ko);
                string left = g.Add("Gather", s, [x, g.Constant($"{s}/left", [0L])], [("axis", 1L)]);
                string right = g.Add("Gather", s, [x, g.Constant($"{s}/right", [1L])], [("axis", 1L)]);
                string leftMax = SafeMax(g, s, left, -1), rightMax = SafeMax(g, s, right, -1);
                string el = g.Add("Unsqueeze", s, [g.Add("Exp", s, [g.Add("Sub", s, [left, leftMax])]), g.Ints(3)]);
                string er = g.Add("Unsqueeze", s, [g.Add("Exp", s, [g.Add("Sub", s, [right, rightMax])]), g.Ints(2)]);
                string outer = g.Add("Reshape", s, [g.Add("Mul", s, [el, er]), g.Ints(f, -1, ki * ki)]);
                string y = g.Add("Log", s, [g.Add("MatMul", s, [outer, w])]);
                return g.Add("Add", s, [g.Add("Add", s, [y, leftMax]), rightMax]);
            }
            case LayerSpecKind.Mixing:
            {
                string w = g.Constant($"{s}/weight", Floats(((MixingLayer)layer).Weights()), f, h, 1, ko);
                // Padded slots hold −∞ so that they neither win the maximum nor contribute (weight 0).
                if (mask is not null) x = g.Add("Where", s, [mask, x, g.Scalar($"{s}/minus_infinity", float.NegativeInfinity)]);
                string max = SafeMax(g, s, x, 1);
                string weighted = g.Add("Mul", s, [g.Add("Exp", s, [g.Add("Sub", s, [x, max])]), w]);
                string sum = g.Add("ReduceSum", s, [weighted, g.Ints(1)], [("keepdims", 1L)]);
                string y = g.Add("Add", s, [g.Add("Log", s, [sum]), max]);
                return g.Add("Squeeze", s, [y, g.Ints(1)]);
            }
            default:
                throw new NotSupportedException($"Layer {spec.Index} is of kind {spec.Kind}, which the ONNX exporter does not know.");
        }
    }

    /// <summary>log(exp(x − m) · W) + m with m the guarded maximum over the last axis: the log-sum-exp matrix product.</summary>
    static string LogMatMul(OnnxGraph g, string s, string x, string weight)
    {
        string max = SafeMax(g, s, x, -1);
        string linear = g.Add("MatMul", s, [g.Add("Exp", s, [g.Add("Sub", s, [x, max])]), weight]);
        return g.Add("Add", s, [g.Add("Log", s, [linear]), max]);
    }

    /// <summary>The maximum over <paramref name="axis"/> (kept), with ±∞ replaced by 0 (<c>Semiring.SafeMax</c>).</summary>
    static string SafeMax(OnnxGraph g, string s, string x, long axis)
    {
        string max = g.Add("ReduceMax", s, [x], [("axes", new[] { axis }), ("keepdims", 1L)]);
        return g.Add("Where", s, [g.Add("IsInf", s, [max]), g.Scalar(g.NewName($"{s}/zero"), 0f), max]);
    }

    /// <summary>Padded slots set to log 1 = 0, then the sum over the slots (the product).</summary>
    static string SumSlots(OnnxGraph g, string s, string y, string? mask, long slotAxis)
    {
        if (mask is not null) y = g.Add("Where", s, [mask, y, g.Scalar(g.NewName($"{s}/zero"), 0f)]);
        return g.Add("ReduceSum", s, [y, g.Ints(slotAxis)], [("keepdims", 0L)]);
    }

    static bool[] Transpose(IReadOnlyList<bool> mask, int folds, int arity)
    {
        var result = new bool[mask.Count];
        for (int f = 0; f < folds; f++)
            for (int h = 0; h < arity; h++)
                result[h * folds + f] = mask[f * arity + h];
        return result;
    }

    static float[] Floats(Tensor t)
    {
        using var cpu = t.detach().to(ScalarType.Float32).cpu().contiguous();
        return cpu.data<float>().ToArray();
    }
}
