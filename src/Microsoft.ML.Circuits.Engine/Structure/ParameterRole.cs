namespace Microsoft.ML.Circuits.Structure;

/// <summary>Which part of the paper's parameter count (<see cref="ParameterCount"/>) a parameter tensor belongs to.</summary>
public enum ParameterRole
{
    /// <summary>Categorical logits of the input layer.</summary>
    Input,
    /// <summary>Weights of a sum-product layer (Tucker, CP family).</summary>
    Inner,
    /// <summary>Weights of a mixing layer.</summary>
    Mixing,
    /// <summary>The per-fold scales of CP-S, counted separately by the paper.</summary>
    Scale,
}
