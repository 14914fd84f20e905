using System.Globalization;

namespace Microsoft.ML.Circuits.Tests.MLNet;

/// <summary>
/// Model zips written by version 1 of the library (the single-assembly release, before the engine split), kept as
/// fixtures with the scores that version printed for the first eight test digits of the bundled sample. A fresh
/// process of the current build must load each with plain <c>mlContext.Model.Load</c> and reproduce the scores.
/// </summary>
[TestClass]
public sealed class ModelFormatFixtureTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [TestMethod]
    [DataRow("v1-qg-cp-clamp")]
    [DataRow("v1-pd-tucker-softmax")]
    [DataRow("v1-qt-cps-exp")]
    public void ModelZipsWrittenByVersion1LoadAndScoreTheSame(string name)
    {
        var expected = File.ReadAllLines(Fixture(name + ".expected.txt")).Where(l => l.Length > 0).ToList();
        string images = Path.Combine(AppContext.BaseDirectory, "data", "mnist-10k", "t10k-images-idx3-ubyte.gz");
        var actual = ProbabilisticCircuitEstimatorTests.RunModelLoadCheck(Fixture(name + ".zip"), images, 8);
        Assert.HasCount(expected.Count, actual);
        Assert.AreEqual(expected[0], actual[0], "the columns the model adds");
        for (int i = 1; i < expected.Count; i++)
        {
            var e = expected[i].Split(' ');
            var a = actual[i].Split(' ');
            Assert.AreEqual(e[0], a[0]);
            for (int j = 1; j < e.Length; j++)
            {
                double want = double.Parse(e[j], CultureInfo.InvariantCulture), got = double.Parse(a[j], CultureInfo.InvariantCulture);
                Assert.AreEqual(want, got, Math.Abs(want) * 2e-6, $"line {i} ({expected[i]}), value {j}");
            }
        }
    }
}
