namespace Microsoft.ML.Circuits;

/// <summary>How raw inner-layer parameters become the non-negative weights used by the circuit.</summary>
public enum Reparameterization
{
    /// <summary>Weights are the parameters themselves, projected to at least sqrt(float32 tiny) after every step (the paper's choice).</summary>
    Clamp,
    /// <summary>Weights are the softmax of the parameters over each unit's inputs.</summary>
    Softmax,
    /// <summary>Weights are the exponential of the parameters.</summary>
    Exp,
}
