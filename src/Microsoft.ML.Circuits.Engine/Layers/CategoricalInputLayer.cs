using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// The categorical input layer: for each variable d, replica p and unit k, a product over the C channels of
/// categorical distributions over <c>Categories</c> values, parameterised by logits through log-softmax (so every
/// unit is normalised and integrates to 1). Logits θ ∈ (D, C, N, P, K), initialised N(0, 1).
/// Parameters: D·K·P·C·N.
/// </summary>
public sealed class CategoricalInputLayer : nn.Module<Tensor, Tensor>
{
    /// <summary>Creates the layer.</summary>
    public CategoricalInputLayer(int variables, int channels, int categories, int replicas, int units, Generator generator, Device device)
        : base(nameof(CategoricalInputLayer))
    {
        Variables = variables; Channels = channels; Categories = categories; Replicas = replicas; Units = units;
        var initial = torch.randn([variables, channels, categories, replicas, units], ScalarType.Float32, generator: generator);
        Logits = Parameterization.ToParameter(initial, device);
        register_parameter("logits", Logits);
        using var offsets = torch.arange(0L, (long)variables * channels, dtype: ScalarType.Int64).mul_(categories).view(variables, channels, 1);
        RowOffsets = offsets.to(device);
        register_buffer("row_offsets", RowOffsets, persistent: false);
    }

    /// <summary>Every parameter and buffer is registered explicitly (non-persistent buffers stay out of the state).</summary>
    protected override void RegisterComponents() { }

    /// <summary>D.</summary>
    public int Variables { get; }

    /// <summary>C.</summary>
    public int Channels { get; }

    /// <summary>N: categories per channel.</summary>
    public int Categories { get; }

    /// <summary>P.</summary>
    public int Replicas { get; }

    /// <summary>K_in.</summary>
    public int Units { get; }

    /// <summary>θ, shape (D, C, N, P, K).</summary>
    public Parameter Logits { get; }

    Tensor RowOffsets { get; }

    Tensor? frozenLogProbabilities;

    /// <summary>Log-probabilities of every value: log-softmax of θ over the categories, shape (D, C, N, P, K).</summary>
    public Tensor LogProbabilities() =>
        frozenLogProbabilities is not null && !torch.is_grad_enabled() ? frozenLogProbabilities.alias() : Logits.log_softmax(2);

    /// <summary>
    /// Computes the log-softmax table once and reuses it for every forward pass without gradients. Only for a layer
    /// whose logits never change again (the circuit of an ML.NET transformer): it saves a pass over all D·C·N·P·K
    /// logits per call, which dominates the cost of scoring a single image.
    /// </summary>
    internal void Freeze()
    {
        using var _ = torch.no_grad();
        frozenLogProbabilities?.Dispose();
        frozenLogProbabilities = Logits.log_softmax(2).detach().DetachFromDisposeScope();
    }

    /// <summary>Disposes the layer's tensors, the table of <see cref="Freeze"/> included.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            frozenLogProbabilities?.Dispose();
            frozenLogProbabilities = null;
        }
        base.Dispose(disposing);
    }

    /// <summary>log p(x) for a batch <paramref name="x"/> (B, D, C) of int64 values in 0..N−1: shape (D·P, B, K).</summary>
    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary>
    /// log p(x) with variables marked in <paramref name="missing"/> (B, D) marginalised out (they contribute log 1):
    /// shape (D·P, B, K), row = variable·P + replica.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? missing)
    {
        using var scope = NewDisposeScope();
        long batch = x.shape[0];
        // Row of (variable d, channel c, value v) in the flattened log-probabilities: (d·C + c)·N + v.
        var rows = x.permute(1, 2, 0).add(RowOffsets).reshape(-1);
        var table = LogProbabilities().view((long)Variables * Channels * Categories, (long)Replicas * Units);
        var picked = table.index_select(0, rows).view(Variables, Channels, batch, Replicas, Units).sum(1);
        if (missing is not null)
            picked = picked.masked_fill(missing.t().view(Variables, batch, 1, 1), 0.0);
        var output = Replicas == 1
            ? picked.view(Variables, batch, Units)
            : picked.permute(0, 2, 1, 3).reshape((long)Variables * Replicas, batch, Units);
        return output.MoveToOuterDisposeScope();
    }
}
