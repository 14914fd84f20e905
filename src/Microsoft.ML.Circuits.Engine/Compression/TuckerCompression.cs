using System.Diagnostics;
using Microsoft.ML.Circuits.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Compression;

/// <summary>
/// Rewrites a trained Tucker circuit as an uncollapsed-CP circuit of rank R (the paper's compression, §9): every
/// Tucker layer's cores W[f] (K_in × K_in × K_out) are decomposed together by <see cref="NonNegativeCp"/>, and the
/// uncollapsed CP layer takes A[f, 0] = A_f, A[f, 1] = B_f (input factors) and B[f] = C_fᵀ (output matrix). The input
/// layer and the mixing layers are copied unchanged (as linear weights). The result uses the clamp
/// parameterisation and is not normalised by construction: its log Z is recomputed by the circuit.
/// </summary>
public static class TuckerCompression
{
    /// <summary>Compresses <paramref name="model"/> at rank <paramref name="rank"/>; the original is not modified.</summary>
    /// <exception cref="ArgumentException">The circuit does not use Tucker layers, or the rank is not positive.</exception>
    public static CircuitModel Compress(CircuitModel model, int rank, TuckerCompressionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new TuckerCompressionOptions();
        var source = model.Circuit;
        if (source.Description.Layer != LayerKind.Tucker)
            throw new ArgumentException(
                $"Only circuits with Tucker layers can be compressed into CP layers; this one uses {Names.Of(source.Description.Layer)} layers.", nameof(model));
        if (rank < 1) throw new ArgumentOutOfRangeException(nameof(rank), rank, "The CP rank must be at least 1.");

        var clock = Stopwatch.StartNew();
        var description = source.Description with { Layer = LayerKind.UncollapsedCP, Rank = rank, Reparameterization = Reparameterization.Clamp };
        var target = new TensorizedCircuit(description, source.Plan, seed: 0, device: source.Device);
        var errors = new List<double>();
        try
        {
            using var _ = torch.no_grad();
            target.Input.Logits.copy_(source.Input.Logits);
            for (int l = 0; l < source.Layers.Count; l++)
            {
                switch (source.Layers[l], target.Layers[l])
                {
                    case (TuckerLayer tucker, UncollapsedCpLayer cp):
                        using (var scope = NewDisposeScope())
                        using (var factors = NonNegativeCp.Decompose(tucker.Weights(), rank, options.Decomposition))
                        {
                            cp.InputWeight[.., 0] = factors.A;
                            cp.InputWeight[.., 1] = factors.B;
                            cp.OutputWeight.copy_(factors.C.transpose(1, 2));
                            errors.Add(factors.RelativeError);
                            options.LayerCompressed?.Invoke(l, factors.RelativeError, factors.Iterations);
                        }
                        break;
                    case (MixingLayer from, MixingLayer to):
                        using (var weights = from.Weights())
                        {
                            if (to.Weight is not null) to.Weight.copy_(weights);
                            else if (from.Weight is not null)
                                throw new InvalidOperationException("A trainable mixing layer would become frozen.");
                        }
                        break;
                    default:
                        throw new InvalidOperationException($"Layer {l} of the Tucker circuit and of its compressed version do not align.");
                }
            }
            target.ProjectParameters();
            var report = new CompressionReport(source.Description.ToJson(), rank, errors, clock.Elapsed.TotalSeconds)
            {
                SourceTestBitsPerDimension = model.Metadata.Training?.TestBitsPerDimension,
            };
            return new CircuitModel(target, new ModelMetadata { Compression = report });
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }
}
