using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Circuits.Compression;

/// <summary>
/// Non-negative CP (PARAFAC) decomposition of a batch of 3-way tensors, all folds at once on the tensors' device.
/// <para>
/// Method: hierarchical alternating least squares (HALS; Cichocki &amp; Phan 2009), the fast alternative to the
/// multiplicative updates of tensorly's <c>non_negative_parafac</c> that the original code mentions. Each sweep
/// computes, per mode, the MTTKRP (e.g. M_A = Σ_{j,o} W[i,j,o]·B[j,r]·C[o,r]) and the Gram product
/// G = (BᵀB) ∘ (CᵀC), then updates column r as A_r ← max(ε, A_r + (M_A,r − (A·G)_r) / G_rr), with ε the clamp bound
/// (so factors stay strictly positive, as the clamp parameterisation needs). After each sweep the columns are
/// rebalanced so that the three factors of a component have equal norms.
/// </para>
/// <para>
/// Initialisation: uniform random factors (seeded), scaled so that the initial reconstruction has the norm of W.
/// When R ≥ I·J the decomposition is built exactly instead (component (i, j) takes A = e_i, B = e_j, C = W[i, j, :]).
/// Stopping: after <see cref="NonNegativeCpOptions.MaxIterations"/> sweeps or when the relative error of all folds
/// together, ‖W − Ŵ‖ / ‖W‖, improves by no more than <see cref="NonNegativeCpOptions.Tolerance"/> times itself. The relative error is tracked cheaply through
/// ‖W − Ŵ‖² = ‖W‖² − 2⟨M_C, C⟩ + Σ (AᵀA ∘ BᵀB ∘ CᵀC).
/// </para>
/// </summary>
internal static class NonNegativeCp
{
    /// <summary>Decomposes every fold of <paramref name="w"/> (F, I, J, O), non-negative, at rank <paramref name="rank"/>.</summary>
    /// <exception cref="ArgumentException">W is not 4-dimensional, has negative or non-finite entries, or the rank is not positive.</exception>
    /// <exception cref="InvalidOperationException">The factors came out negative or non-finite.</exception>
    public static CpFactors Decompose(Tensor w, int rank, NonNegativeCpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        options ??= new NonNegativeCpOptions();
        if (rank < 1) throw new ArgumentOutOfRangeException(nameof(rank), rank, "The CP rank must be at least 1.");
        if (options.MaxIterations < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxIterations, "MaxIterations must be at least 1.");
        if (!(options.Tolerance >= 0)) throw new ArgumentOutOfRangeException(nameof(options), options.Tolerance, "Tolerance must be 0 or more.");
        if (w.ndim != 4) throw new ArgumentException($"Expected a batch of 3-way tensors (F, I, J, O), got shape ({string.Join(", ", w.shape)}).", nameof(w));
        using (var scope = NewDisposeScope())
        {
            if (!w.isfinite().all().item<bool>() || w.lt(0).any().item<bool>())
                throw new ArgumentException("The tensor to decompose must be finite and non-negative.", nameof(w));
        }

        using var outer = NewDisposeScope();
        using var _ = torch.no_grad();
        var x = w.to(ScalarType.Float64);
        long f = x.shape[0], i = x.shape[1], j = x.shape[2], o = x.shape[3];
        var normSquared = x.square().sum([1, 2, 3]);
        float floor = Layers.Parameterization.ClampMinimum;

        Tensor a, b, c;
        int iterations = 0;
        if (rank >= i * j)
        {
            // Exact: component r = (p, q) selects A = e_p, B = e_q and carries C = W[p, q, :]. Extra components are ~0.
            a = torch.full([f, i, rank], floor, ScalarType.Float64, x.device);
            b = torch.full([f, j, rank], floor, ScalarType.Float64, x.device);
            c = torch.full([f, o, rank], floor, ScalarType.Float64, x.device);
            for (long p = 0; p < i; p++)
                for (long q = 0; q < j; q++)
                {
                    long r = p * j + q;
                    a[.., p, r] = torch.tensor(1.0);
                    b[.., q, r] = torch.tensor(1.0);
                    c[.., .., r] = x[.., p, q, ..].clamp_min(floor);
                }
        }
        else
        {
            using var generator = new Generator((ulong)options.Seed, torch.CPU);
            a = torch.rand([f, i, rank], ScalarType.Float64, generator: generator).to(x.device);
            b = torch.rand([f, j, rank], ScalarType.Float64, generator: generator).to(x.device);
            c = torch.rand([f, o, rank], ScalarType.Float64, generator: generator).to(x.device);
            // Scale so that ‖Ŵ‖ = ‖W‖ per fold.
            var reconstructionNorm = Gram(a).mul(Gram(b)).mul(Gram(c)).sum([1, 2]).sqrt().clamp_min(1e-300);
            var scale = (normSquared.sqrt() / reconstructionNorm).pow(1.0 / 3).view(f, 1, 1);
            a = a * scale; b = b * scale; c = c * scale;

            double previous = double.PositiveInfinity, squaredNorm = normSquared.sum().item<double>();
            for (iterations = 1; iterations <= options.MaxIterations; iterations++)
            {
                using var sweep = NewDisposeScope();
                UpdateMode(a, torch.einsum("fijo,fjr,for->fir", x, b, c), Gram(b).mul(Gram(c)), floor);
                UpdateMode(b, torch.einsum("fijo,fir,for->fjr", x, a, c), Gram(a).mul(Gram(c)), floor);
                var mc = torch.einsum("fijo,fir,fjr->for", x, a, b);
                UpdateMode(c, mc, Gram(a).mul(Gram(b)), floor);
                // ⟨W, Ŵ⟩ = Σ M_C ∘ C holds for the factors M_C was computed from, so measure before rebalancing.
                double error = Math.Sqrt(Residuals(normSquared, mc.mul(c).sum([1, 2]), a, b, c).sum().item<double>() / Math.Max(squaredNorm, 1e-300));
                Balance(a, b, c);
                bool converged = previous - error <= error * options.Tolerance;
                previous = error;
                if (converged) break;
            }
            iterations = Math.Min(iterations, options.MaxIterations);
        }

        foreach (var (name, factor) in new[] { ("A", a), ("B", b), ("C", c) })
            if (!factor.isfinite().all().item<bool>() || factor.lt(0).any().item<bool>())
                throw new InvalidOperationException($"The non-negative CP decomposition produced a non-finite or negative factor {name}; the input may be badly scaled.");

        var reconstruction = torch.einsum("fir,fjr,for->fijo", a, b, c);
        var residual = (x - reconstruction).square().sum([1, 2, 3]);
        var perFold = (residual / normSquared.clamp_min(1e-300)).sqrt().cpu().data<double>().ToArray();
        double total = Math.Sqrt(residual.sum().item<double>() / Math.Max(normSquared.sum().item<double>(), 1e-300));
        var result = new CpFactors(a.to(ScalarType.Float32).MoveToOuterDisposeScope(), b.to(ScalarType.Float32).MoveToOuterDisposeScope(),
            c.to(ScalarType.Float32).MoveToOuterDisposeScope(), perFold, total, iterations);
        return result;
    }

    static Tensor Gram(Tensor factor) => torch.bmm(factor.transpose(1, 2), factor);

    /// <summary>One HALS pass over the columns of <paramref name="factor"/> (in place).</summary>
    static void UpdateMode(Tensor factor, Tensor mttkrp, Tensor gram, double floor)
    {
        long rank = factor.shape[2];
        for (long r = 0; r < rank; r++)
        {
            using var scope = NewDisposeScope();
            var column = factor[.., .., r];
            var fitted = torch.bmm(factor, gram[.., .., r].unsqueeze(2)).squeeze(2);
            var diagonal = gram[.., r, r].clamp_min(1e-300).unsqueeze(1);
            var updated = (column + (mttkrp[.., .., r] - fitted) / diagonal).clamp_min(floor);
            factor[.., .., r] = updated;
        }
    }

    /// <summary>Gives the three factors of each component equal column norms (the product is unchanged).</summary>
    static void Balance(Tensor a, Tensor b, Tensor c)
    {
        using var scope = NewDisposeScope();
        var na = a.norm(1, keepdim: true).clamp_min(1e-300);
        var nb = b.norm(1, keepdim: true).clamp_min(1e-300);
        var nc = c.norm(1, keepdim: true).clamp_min(1e-300);
        var geometric = (na * nb * nc).pow(1.0 / 3);
        a.mul_(geometric / na);
        b.mul_(geometric / nb);
        c.mul_(geometric / nc);
    }

    /// <summary>‖W_f − Ŵ_f‖² per fold, from ‖W‖², ⟨W, Ŵ⟩ and the factors' Gram matrices.</summary>
    static Tensor Residuals(Tensor normSquared, Tensor inner, Tensor a, Tensor b, Tensor c)
    {
        var reconstructionSquared = Gram(a).mul(Gram(b)).mul(Gram(c)).sum([1, 2]);
        return (normSquared - 2 * inner + reconstructionSquared).clamp_min(0);
    }
}
