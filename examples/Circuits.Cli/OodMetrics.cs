namespace Circuits.Cli;

/// <summary>
/// Out-of-distribution detection metrics of a score where higher means more anomalous; the positives are the
/// out-of-distribution images. Ties count half (AUROC) or are resolved together (AUPR, FPR).
/// </summary>
internal static class OodMetrics
{
    /// <summary>Area under the ROC curve: the probability that a random OOD image scores above a random in-distribution one.</summary>
    public static double Auroc(IReadOnlyList<double> inDistribution, IReadOnlyList<double> outOfDistribution)
    {
        Check(inDistribution, outOfDistribution);
        var all = inDistribution.Select(s => (Score: s, Ood: false)).Concat(outOfDistribution.Select(s => (Score: s, Ood: true)))
            .OrderBy(p => p.Score).ToArray();
        // Mann–Whitney: sum of the OOD images' mid-ranks.
        double rankSum = 0;
        for (int i = 0; i < all.Length;)
        {
            int j = i;
            while (j < all.Length && all[j].Score == all[i].Score) j++;
            double midRank = (i + 1 + j) / 2.0;
            for (int k = i; k < j; k++) if (all[k].Ood) rankSum += midRank;
            i = j;
        }
        double nOod = outOfDistribution.Count, nIn = inDistribution.Count;
        return (rankSum - nOod * (nOod + 1) / 2) / (nOod * nIn);
    }

    /// <summary>Area under the precision–recall curve (average precision) with the OOD images as the positive class.</summary>
    public static double Aupr(IReadOnlyList<double> inDistribution, IReadOnlyList<double> outOfDistribution)
    {
        Check(inDistribution, outOfDistribution);
        var all = inDistribution.Select(s => (Score: s, Ood: false)).Concat(outOfDistribution.Select(s => (Score: s, Ood: true)))
            .OrderByDescending(p => p.Score).ToArray();
        double truePositives = 0, flagged = 0, area = 0, previousRecall = 0;
        for (int i = 0; i < all.Length;)
        {
            int j = i;
            while (j < all.Length && all[j].Score == all[i].Score) j++;
            for (int k = i; k < j; k++) { flagged++; if (all[k].Ood) truePositives++; }
            double recall = truePositives / outOfDistribution.Count;
            area += (recall - previousRecall) * (truePositives / flagged);
            previousRecall = recall;
            i = j;
        }
        return area;
    }

    /// <summary>
    /// The fraction of in-distribution images flagged at the highest threshold that flags at least 95 % of the OOD
    /// images (FPR at 95 % TPR).
    /// </summary>
    public static double FprAt95Tpr(IReadOnlyList<double> inDistribution, IReadOnlyList<double> outOfDistribution)
    {
        Check(inDistribution, outOfDistribution);
        var ood = outOfDistribution.OrderByDescending(s => s).ToArray();
        double threshold = ood[Math.Max(0, (int)Math.Ceiling(0.95 * ood.Length) - 1)];
        return inDistribution.Count(s => s >= threshold) / (double)inDistribution.Count;
    }

    static void Check(IReadOnlyList<double> inDistribution, IReadOnlyList<double> outOfDistribution)
    {
        if (inDistribution.Count == 0 || outOfDistribution.Count == 0)
            throw new ArgumentException("Both the in-distribution and the out-of-distribution set need at least one image.");
        if (inDistribution.Concat(outOfDistribution).Any(double.IsNaN))
            throw new InvalidOperationException("A score is NaN.");
    }
}
