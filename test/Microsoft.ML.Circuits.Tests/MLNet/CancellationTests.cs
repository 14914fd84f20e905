using static Microsoft.ML.Circuits.Tests.MLNet.MLNetData;

namespace Microsoft.ML.Circuits.Tests.MLNet;

[TestClass]
public sealed class CancellationTests
{
    /// <summary>
    /// <c>MLContext.CancelExecution()</c>: internal in ML.NET 5 and exposed to applications by the Microsoft.ML.Experimental
    /// package's extension method of the same name, which the registry here does not serve; the test calls it directly.
    /// </summary>
    static void CancelExecution(MLContext context) =>
        typeof(MLContext).GetMethod("CancelExecution", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
            .Invoke(context, null);

    [TestMethod]
    public void CancelExecutionStopsFittingAtTheNextStepAndKeepsTheBestCheckpoint()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Digits(MLNetData.Train, 512));
        var options = SmallOptions();
        options.MaxEpochs = 100;
        options.EpochCompleted = record => { if (record.Epoch == 2) CancelExecution(ml); };
        using var fitted = ml.Transforms.ProbabilisticCircuit(options).Fit(train);
        var report = fitted.TrainingReport!;
        Assert.AreEqual("cancelled", report.StopReason);
        Assert.AreEqual(2, report.Epochs, "stopped in the third epoch, which is not counted");
        Assert.AreEqual(report.History.Where(h => h.Improved).Select(h => h.Epoch).DefaultIfEmpty(0).Max(), report.BestEpoch);

        // The circuit holds the best checkpoint: its validation score is the one reported.
        var rows = new MLContext(seed: 1).Data.LoadFromEnumerable(Digits(MLNetData.Test, 50));
        var scored = new MLContext().Data.CreateEnumerable<Scores>(fitted.Transform(rows), false).ToList();
        Assert.IsTrue(scored.All(s => float.IsFinite(s.LogLikelihood)));
    }
}
