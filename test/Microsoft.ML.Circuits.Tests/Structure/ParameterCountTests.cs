using Microsoft.ML.Circuits.Structure;

namespace Microsoft.ML.Circuits.Tests.Structure;

/// <summary>Parameter counts on 28×28 MNIST against the paper's table (paper-spec §8.4, count_pc_params).</summary>
[TestClass]
public sealed class ParameterCountTests
{
    static ParameterCount Count(RegionGraphKind graph, LayerKind layer, int k, int? rank = null)
    {
        var description = new CircuitDescription { RegionGraph = graph, Layer = layer, Units = k, Rank = rank };
        return ParameterCount.Of(CircuitPlanner.Build(description), description);
    }

    [TestMethod]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CP, 8, 1_673_248L)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CP, 64, 17_170_688L)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CP, 256, 120_587_264L)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CP, 512, 379_586_560L)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CPXS, 8, 1_606_688L)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CPXS, 64, 12_910_848L)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CPXS, 256, 52_429_824L)]
    [DataRow(RegionGraphKind.QuadTree, LayerKind.CPXS, 512, 106_956_800L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP, 8, 1_809_218L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP, 64, 25_641_474L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP, 256, 255_723_522L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CP, 512, 919_867_394L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CPXS, 8, 1_610_930L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CPXS, 64, 12_951_938L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CPXS, 256, 52_692_482L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.CPXS, 512, 107_744_258L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.Tucker, 8, 2_407_586L)]
    [DataRow(RegionGraphKind.QuadGraph, LayerKind.Tucker, 64, 421_306_626L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CP, 8, 2_030_028L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CP, 64, 38_632_972L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CP, 256, 461_633_548L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CP, 512, 1_742_204_940L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CPXS, 8, 1_631_388L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CPXS, 64, 13_129_868L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CPXS, 256, 53_600_780L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.CPXS, 512, 110_085_132L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.Tucker, 8, 3_230_220L)]
    [DataRow(RegionGraphKind.PoonDomingos, LayerKind.Tucker, 64, 832_026_636L)]
    public void MatchesThePapersTable(RegionGraphKind graph, LayerKind layer, int k, long expected)
        => Assert.AreEqual(expected, Count(graph, layer, k).Total);

    [TestMethod]
    [DataRow(RegionGraphKind.QuadTree, 1_608_801L)]
    [DataRow(RegionGraphKind.QuadGraph, 1_623_396L)]
    [DataRow(RegionGraphKind.PoonDomingos, 1_656_392L)]
    public void CpsCountsItsScalesSeparately(RegionGraphKind graph, long expected)
    {
        var cps = Count(graph, LayerKind.CPS, 8);
        Assert.AreEqual(expected, cps.Total);
        Assert.AreEqual(Count(graph, LayerKind.CPXS, 8).Total, cps.WithoutScales);
    }

    [TestMethod]
    public void FrozenMixingIsTheDifferenceBetweenTotalAndTrainable()
    {
        // grid_frozen.csv, MNIST PD cp K=16: 4,859,788 parameters, 4,811,136 trainable.
        var count = Count(RegionGraphKind.PoonDomingos, LayerKind.CP, 16);
        Assert.AreEqual(4_859_788L, count.Total);
        Assert.AreEqual(4_811_136L, count.Trainable);
    }

    [TestMethod]
    [DataRow(1, 6_588_740L)]
    [DataRow(2, 6_738_438L)]
    [DataRow(4, 7_037_834L)]
    [DataRow(8, 7_636_626L)]
    [DataRow(16, 8_834_210L)]
    [DataRow(32, 11_229_378L)]
    public void UncollapsedCpOnQuadGraphMatchesTheCompressionCounts(int rank, long expected)
    {
        Assert.AreEqual(expected, Count(RegionGraphKind.QuadGraph, LayerKind.UncollapsedCP, 32, rank).Total);
        Assert.AreEqual(57_493_634L, Count(RegionGraphKind.QuadGraph, LayerKind.Tucker, 32).Total);
    }

    [TestMethod]
    public void UncollapsedCpOnPoonDomingosMatchesTheCompressionCounts()
    {
        Assert.AreEqual(13_640_984L, Count(RegionGraphKind.PoonDomingos, LayerKind.UncollapsedCP, 64, 1).Total);
        Assert.AreEqual(51_526_412L, Count(RegionGraphKind.PoonDomingos, LayerKind.UncollapsedCP, 64, 64).Total);
    }
}
