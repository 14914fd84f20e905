namespace Microsoft.ML.Circuits;

/// <summary>
/// Options of <see cref="ProbabilisticCircuitEstimator"/>: which column holds the pixels, what circuit to build and
/// how to train it. The defaults are the paper's settings: a quad graph with CP layers (K = 16), Adam with learning
/// rate 0.01, batch 256, at most 200 epochs, early stopping with patience 5 on a 5 % validation split (seed 42),
/// mixing layers frozen at 0.5, clamp reparameterisation.
/// </summary>
public class ProbabilisticCircuitOptions
{
    /// <summary>The input column: a known-size vector of <see cref="float"/> or <see cref="byte"/> pixel values (default <c>Pixels</c>).</summary>
    public string InputColumnName { get; set; } = "Pixels";

    /// <summary>The output column of the normalised log-likelihood (natural log), <see cref="float"/> (default <c>LogLikelihood</c>).</summary>
    public string OutputColumnName { get; set; } = "LogLikelihood";

    /// <summary>The output column of the bits per dimension −LL / (ln 2 · H·W·C), <see cref="float"/> (default <c>BitsPerDimension</c>).</summary>
    public string BitsPerDimensionColumnName { get; set; } = "BitsPerDimension";

    /// <summary>The region graph (default <see cref="RegionGraphKind.QuadGraph"/>).</summary>
    public RegionGraphKind RegionGraph { get; set; } = RegionGraphKind.QuadGraph;

    /// <summary>The sum-product layer (default <see cref="LayerKind.CP"/>).</summary>
    public LayerKind Layer { get; set; } = LayerKind.CP;

    /// <summary>K, units per region (default 16).</summary>
    public int Units { get; set; } = 16;

    /// <summary>Units of the categorical input layer; null (default) means <see cref="Units"/>.</summary>
    public int? InputUnits { get; set; }

    /// <summary>Rank R of <see cref="LayerKind.UncollapsedCP"/> layers.</summary>
    public int? Rank { get; set; }

    /// <summary>Distance between Poon–Domingos cut points (default 4).</summary>
    public int PoonDomingosDelta { get; set; } = RegionGraphs.PoonDomingos.DefaultDelta;

    /// <summary>Repetitions of a random binary tree (default 1).</summary>
    public int Replicas { get; set; } = 1;

    /// <summary>Reparameterisation of the inner weights (default <see cref="Circuits.Reparameterization.Clamp"/>).</summary>
    public Reparameterization Reparameterization { get; set; } = Reparameterization.Clamp;

    /// <summary>Which mixing layers stay at 0.5 (default <see cref="MixingFreeze.All"/>).</summary>
    public MixingFreeze FreezeMixingLayers { get; set; } = MixingFreeze.All;

    /// <summary>Image height; null (default) takes it from the column's dimensions, or a square image.</summary>
    public int? ImageHeight { get; set; }

    /// <summary>Image width; null (default) takes it from the column's dimensions, or a square image.</summary>
    public int? ImageWidth { get; set; }

    /// <summary>Channels per pixel; null (default) takes it from the column's dimensions, else 1.</summary>
    public int? Channels { get; set; }

    /// <summary>Layout of multi-channel vectors (default <see cref="Circuits.ChannelLayout.Planar"/>, as <c>ExtractPixels</c> writes them).</summary>
    public ChannelLayout ChannelLayout { get; set; } = ChannelLayout.Planar;

    /// <summary>Factor that maps column values to 0..255: 1 (default) for 0..255 values, 255 for 0..1 values.</summary>
    public float PixelScale { get; set; } = 1f;

    /// <summary>Maximum training epochs (default 200).</summary>
    public int MaxEpochs { get; set; } = 200;

    /// <summary>Training batch size (default 256).</summary>
    public int BatchSize { get; set; } = 256;

    /// <summary>Adam learning rate (default 0.01; the paper used 0.1 for Poon–Domingos).</summary>
    public double LearningRate { get; set; } = 0.01;

    /// <summary>Early-stopping patience in epochs (default 5).</summary>
    public int Patience { get; set; } = 5;

    /// <summary>L2 weight decay of the inner layers (Adam's; default 0).</summary>
    public double WeightDecay { get; set; }

    /// <summary>When set, validate every this many batches instead of after every full pass (the original's <c>--valid_freq</c>).</summary>
    public int? ValidationFrequency { get; set; }

    /// <summary>T_0 of the cosine warm-restart learning-rate schedule, stepped every batch (default 1: a constant learning rate).</summary>
    public int T0 { get; set; } = 1;

    /// <summary>Minimum learning rate of the cosine schedule (default 1e−4).</summary>
    public double EtaMin { get; set; } = 1e-4;

    /// <summary>Fraction of the fitted rows held out for early stopping (default 0.05).</summary>
    public double ValidationFraction { get; set; } = Data.DatasetSplits.DefaultValidationFraction;

    /// <summary>Seed of the initialisation, the validation split and the batch order (default 42).</summary>
    public int Seed { get; set; } = 42;

    /// <summary>Where to train and score: <c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>. Loaded models score on the CPU.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>
    /// Which kernels compute the circuit's layers while fitting and in the fitted transformer (default: the environment
    /// variable <c>CIRCUITS_KERNEL</c>, else <see cref="LayerKernelPreference.Auto"/>); see
    /// <see cref="TensorizedCircuit.KernelPreference"/>. Loaded models use <c>CIRCUITS_KERNEL</c> or Auto.
    /// </summary>
    public LayerKernelPreference? Kernel { get; set; }

    /// <summary>
    /// How the fitted transformer computes its scores, and with them the anomaly threshold (default
    /// <see cref="ScoringMode.Fast"/>: the native kernels where they are available, to float32 rounding of the managed
    /// reference; <see cref="ScoringMode.Reference"/>: the managed log-sum-exp reference, bit for bit). Saved with the
    /// model (<see cref="ModelMetadata.Scoring"/>); models saved before it existed score on the reference.
    /// </summary>
    public ScoringMode Scoring { get; set; } = ScoringMode.Fast;

    /// <summary>
    /// When true, the fitted transformer reads NaN in a Single pixel column as a missing pixel and emits the exact
    /// marginal log-likelihood of the observed pixels (see <see cref="ProbabilisticCircuitTransformer.AllowMissingPixels"/>).
    /// Fitting itself needs complete images. Default false: NaN is an error.
    /// </summary>
    public bool AllowMissingPixels { get; set; }

    /// <summary>Rows scored per batch when transforming (default 256).</summary>
    public int ScoringBatchSize { get; set; } = 256;

    /// <summary>
    /// Start from this trained transformer's circuit instead of a fresh one and keep training it (fine-tuning, e.g.
    /// after <see cref="ProbabilisticCircuitTransformer.CompressTucker"/>). Its description replaces the circuit
    /// options above; the clamp projection is applied once before training, as the original fine-tuning does.
    /// </summary>
    public ProbabilisticCircuitTransformer? InitialModel { get; set; }

    /// <summary>Called after every epoch with its metrics (for progress reporting).</summary>
    public Action<EpochRecord>? EpochCompleted { get; set; }
}
