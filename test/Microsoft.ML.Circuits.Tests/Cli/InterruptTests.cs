using System.Diagnostics;
using System.Reflection;

namespace Microsoft.ML.Circuits.Tests.Cli;

/// <summary>Ctrl+C (SIGINT) during <c>train</c>: the run stops at the next step, saves the best checkpoint and says so.</summary>
[TestClass]
public sealed class InterruptTests
{
    // The signal is sent by a small python3 harness: a SIGINT sent to a child of this test host is not delivered to the
    // child's Console.CancelKeyPress handler (it is when the parent is a shell or python, as for a user at a terminal).
    const string Harness = """
        import os, signal, subprocess, sys, time
        folder = sys.argv[2]
        p = subprocess.Popen(["dotnet", sys.argv[1], "train", "--dataset", "mnist", "--rg", "QT", "--layer", "cp", "--k", "2",
            "--lr", "0.1", "--batch-size", "64", "--max-num-epochs", "1000", "--limit", "512", "--progressbar", "false",
            "--model-dir", folder], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None:
            logs = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(folder, "logs")) for f in fs if f.endswith(".jsonl")]
            if logs and sum(1 for line in open(logs[0]) if line.strip()) >= 3:
                break
            time.sleep(0.2)
        running = p.poll() is None
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        sys.stdout.write(f"running-when-signalled {running}\nexit {p.returncode}\n--stdout--\n{out.decode()}\n--stderr--\n{err.decode()}")
        """;

    [TestMethod]
    public void CtrlCStopsTrainingKeepsTheBestCheckpointAndExits130()
    {
        if (!File.Exists("/usr/bin/python3")) Assert.Inconclusive("python3 (the signal harness) is not installed.");
        string cli = typeof(InterruptTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "CircuitsCli").Value!;
        string folder = MLNet.MLNetData.TempFolder();
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in new[] { "-c", Harness, cli, folder }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var errorTask = process.StandardError.ReadToEndAsync();
        string report = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.AreEqual(0, process.ExitCode, report + errorTask.Result);

        StringAssert.Contains(report, "running-when-signalled True", "the run had ended before the signal: " + report);
        StringAssert.Contains(report, "exit 130", report);
        StringAssert.Contains(report, "stopping after the current step");
        StringAssert.Contains(report, "stopped:    cancelled");
        StringAssert.Contains(report, "holds the best checkpoint, epoch");
        var zip = Directory.GetFiles(Path.Combine(folder, "models"), "*.zip", SearchOption.AllDirectories).Single();
        StringAssert.Contains(report, zip);
        using var model = CircuitModelFile.Load(new MLContext(), zip);
        Assert.AreEqual("cancelled", model.TrainingReport!.StopReason);
        Assert.IsGreaterThanOrEqualTo(2, model.TrainingReport.Epochs);
        Assert.IsGreaterThanOrEqualTo(1, model.TrainingReport.BestEpoch);
    }
}
