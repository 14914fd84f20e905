using Microsoft.ML.Circuits.Semirings;
using Microsoft.ML.Circuits.Structure;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Layers;

/// <summary>
/// CP-S: CP-XS followed by a per-fold, per-unit scale s ∈ (F, K_out), initialised U(0.9, 1.1):
/// y[f,o] = s[f,o]·y_xs[f,o]. Parameters: H·K_in·K_out + F·K_out (the scales counted separately).
/// </summary>
public sealed class ScaledSharedCpLayer : SharedCpLayer
{
    internal ScaledSharedCpLayer(LayerSpec spec, Reparameterization reparameterization, Generator generator, Device device)
        : base(nameof(ScaledSharedCpLayer), spec, reparameterization, generator, device)
    {
        var scale = Parameterization.InitialUniform([.. spec.Parameter("scale").Shape],
            reparameterization == Reparameterization.Clamp ? Reparameterization.Clamp : Reparameterization.Exp, generator, 0.9, 1.1);
        Scale = AddParameter("scale", scale, device);
    }

    /// <summary>θ of the scales, shape (F, K_out); the scale is θ (clamp) or e^θ (exp, softmax).</summary>
    public Parameter Scale { get; }

    /// <summary>log s, shape (F, K_out).</summary>
    public Tensor LogScale() => Reparameterization == Reparameterization.Clamp ? Scale.log() : Scale.alias();

    /// <inheritdoc />
    public override Tensor Contract(Tensor x, Semiring semiring)
    {
        using var scope = NewDisposeScope();
        return Contract(x, semiring, LogScale().unsqueeze(1)).MoveToOuterDisposeScope();
    }
}
