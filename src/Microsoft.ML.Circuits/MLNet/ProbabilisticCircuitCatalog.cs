using System.Runtime.CompilerServices;
using Microsoft.ML.Circuits;
using Microsoft.ML.Data;

namespace Microsoft.ML;

/// <summary>Entry points of Microsoft.ML.Circuits on ML.NET's catalogs.</summary>
public static class ProbabilisticCircuitCatalog
{
    /// <summary>
    /// Fits a tensorized probabilistic circuit (Loconte et al., TMLR) to the images in a pixel column and adds their
    /// exact, normalised log-likelihood and bits per dimension.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="options">What to fit; see <see cref="ProbabilisticCircuitOptions"/> for the defaults.</param>
    public static ProbabilisticCircuitEstimator ProbabilisticCircuit(this TransformsCatalog catalog, ProbabilisticCircuitOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        MLNetContract.EnsureSatisfied();
        return CreateEstimator(catalog, options);
    }

    // Separate from the public method so that the contract check above runs before any internal ML.NET member is bound.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static ProbabilisticCircuitEstimator CreateEstimator(TransformsCatalog catalog, ProbabilisticCircuitOptions options) =>
        new(CatalogUtils.GetEnvironment(catalog), options);

    /// <summary>Fits a probabilistic circuit with the most common options; everything else takes the defaults of <see cref="ProbabilisticCircuitOptions"/>.</summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="outputColumnName">The log-likelihood column to add (a <c>BitsPerDimension</c> column is added too).</param>
    /// <param name="inputColumnName">The pixel column: a known-size vector of Single (0..255, or 0..1 with <paramref name="pixelScale"/> 255) or Byte.</param>
    /// <param name="regionGraph">The region graph.</param>
    /// <param name="layer">The sum-product layer.</param>
    /// <param name="units">K, units per region.</param>
    /// <param name="maxEpochs">Maximum training epochs (early stopping usually ends training sooner).</param>
    /// <param name="learningRate">Adam's learning rate.</param>
    /// <param name="pixelScale">1 for 0..255 values, 255 for 0..1 values.</param>
    /// <param name="device"><c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</param>
    public static ProbabilisticCircuitEstimator ProbabilisticCircuit(this TransformsCatalog catalog,
        string outputColumnName = "LogLikelihood", string inputColumnName = "Pixels",
        RegionGraphKind regionGraph = RegionGraphKind.QuadGraph, LayerKind layer = LayerKind.CP, int units = 16,
        int maxEpochs = 200, double learningRate = 0.01, float pixelScale = 1f, string device = "cpu") =>
        catalog.ProbabilisticCircuit(new ProbabilisticCircuitOptions
        {
            OutputColumnName = outputColumnName, InputColumnName = inputColumnName, RegionGraph = regionGraph, Layer = layer,
            Units = units, MaxEpochs = maxEpochs, LearningRate = learningRate, PixelScale = pixelScale, Device = device,
        });

    /// <summary>
    /// Trains a probabilistic circuit as an anomaly detector: <c>Score</c> is each image's anomaly score (by default the
    /// input-complexity corrected bits per dimension, see <see cref="AnomalyScore"/>; higher = more anomalous) and
    /// <c>PredictedLabel</c> flags scores above a quantile of the training scores.
    /// </summary>
    /// <param name="catalog">The anomaly-detection trainers catalog.</param>
    /// <param name="options">What to fit; see <see cref="ProbabilisticCircuitAnomalyOptions"/>.</param>
    public static ProbabilisticCircuitAnomalyTrainer ProbabilisticCircuit(this AnomalyDetectionCatalog.AnomalyDetectionTrainers catalog,
        ProbabilisticCircuitAnomalyOptions options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        MLNetContract.EnsureSatisfied();
        return CreateTrainer(catalog, options);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static ProbabilisticCircuitAnomalyTrainer CreateTrainer(AnomalyDetectionCatalog.AnomalyDetectionTrainers catalog, ProbabilisticCircuitAnomalyOptions options) =>
        new(CatalogUtils.GetEnvironment(catalog), options);

    /// <summary>Trains a probabilistic-circuit anomaly detector with the most common options.</summary>
    /// <param name="catalog">The anomaly-detection trainers catalog.</param>
    /// <param name="inputColumnName">The pixel column.</param>
    /// <param name="units">K, units per region.</param>
    /// <param name="maxEpochs">Maximum training epochs.</param>
    /// <param name="thresholdQuantile">Quantile of the training scores used as the threshold.</param>
    /// <param name="pixelScale">1 for 0..255 values, 255 for 0..1 values.</param>
    /// <param name="anomalyScore">The anomaly score (default: chosen after training, see <see cref="ProbabilisticCircuitAnomalyOptions.AnomalyScore"/>).</param>
    public static ProbabilisticCircuitAnomalyTrainer ProbabilisticCircuit(this AnomalyDetectionCatalog.AnomalyDetectionTrainers catalog,
        string inputColumnName = "Pixels", int units = 16, int maxEpochs = 200, double thresholdQuantile = 0.95, float pixelScale = 1f,
        AnomalyScore? anomalyScore = null) =>
        catalog.ProbabilisticCircuit(new ProbabilisticCircuitAnomalyOptions
        {
            InputColumnName = inputColumnName, Units = units, MaxEpochs = maxEpochs, ThresholdQuantile = thresholdQuantile, PixelScale = pixelScale,
            AnomalyScore = anomalyScore,
        });

    /// <summary>
    /// Fills missing pixels (NaN in a Single pixel column) with a trained circuit: adds a column of the input's shape
    /// holding each image completed by MAP (max-product) or by a seeded draw from the exact conditional. The circuit is
    /// copied from <paramref name="circuit"/> (a fitted or loaded density or anomaly transformer), which stays usable;
    /// the pixel column, its layout and scale are the same as <paramref name="circuit"/>'s.
    /// </summary>
    /// <param name="catalog">The transforms catalog.</param>
    /// <param name="circuit">A fitted or loaded circuit transformer.</param>
    /// <param name="outputColumnName">The completed-image column to add.</param>
    /// <param name="method">MAP (default) or a conditional sample.</param>
    /// <param name="seed">Seed of conditional samples.</param>
    public static CircuitInpaintingTransformer InpaintWithCircuit(this TransformsCatalog catalog, CircuitTransformerBase circuit,
        string outputColumnName = "Inpainted", InpaintingMethod method = InpaintingMethod.Map, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(circuit);
        MLNetContract.EnsureSatisfied();
        return CreateInpainter(catalog, circuit, outputColumnName, method, seed);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static CircuitInpaintingTransformer CreateInpainter(TransformsCatalog catalog, CircuitTransformerBase circuit, string outputColumnName,
        InpaintingMethod method, int seed)
    {
        var model = circuit.Model.CopyTo(circuit.Circuit.Device);
        return new CircuitInpaintingTransformer(CatalogUtils.GetEnvironment(catalog), model, circuit.InputColumnName, outputColumnName,
            circuit.Pixels.Layout, circuit.Pixels.Scale, circuit.ScoringBatchSize, method, seed);
    }
}
