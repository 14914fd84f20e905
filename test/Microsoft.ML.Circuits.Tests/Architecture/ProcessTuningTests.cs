using System.Runtime.InteropServices;

namespace Microsoft.ML.Circuits.Tests.Architecture;

/// <summary>The engine's process-wide runtime settings on Linux (ProcessTuning), applied when the engine loads.</summary>
[TestClass]
public sealed class ProcessTuningTests
{
    [DllImport("libc", EntryPoint = "getenv")]
    static extern IntPtr getenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [TestMethod]
    public void TheEngineTunesMallocAndOpenMpWaitingUnlessTurnedOff()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("The tuning applies to Linux only.");
        _ = new CircuitDescription(); // the engine is loaded, so its module initializer has run
        if (Environment.GetEnvironmentVariable(ProcessTuning.Switch) == "0")
        {
            StringAssert.StartsWith(ProcessTuning.Applied, "off");
            return;
        }
        StringAssert.Contains(ProcessTuning.Applied, "malloc keeps freed memory");
        // The variable must be visible to native code (libgomp reads it with getenv), not only to .NET.
        var policy = Marshal.PtrToStringUTF8(getenv("OMP_WAIT_POLICY"));
        var spins = Marshal.PtrToStringUTF8(getenv("GOMP_SPINCOUNT"));
        Assert.IsTrue(policy is not null || spins is not null, "neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set in the native environment");
        if (ProcessTuning.Applied.Contains("OMP_WAIT_POLICY")) Assert.AreEqual("PASSIVE", policy);
        if (ProcessTuning.Applied.Contains("GOMP_SPINCOUNT")) Assert.AreEqual("10000", spins);
        // The native kernels' workers wait as OpenMP's do.
        Assert.AreEqual(ProcessTuning.Passive(policy), ProcessTuning.WaitsPassively);
    }

    [TestMethod]
    public void TheKernelWorkersSpinOnlyWhereTheProcessDoesNotWaitPassively()
    {
        Assert.IsTrue(ProcessTuning.Passive("PASSIVE") && ProcessTuning.Passive("passive") && ProcessTuning.Passive(" Passive "));
        Assert.IsFalse(ProcessTuning.Passive("ACTIVE") || ProcessTuning.Passive(null) || ProcessTuning.Passive(""));
        Assert.AreEqual(0, Microsoft.ML.Circuits.Kernels.KernelWorkers.SpinFor(passive: true));
        Assert.AreEqual(System.Diagnostics.Stopwatch.Frequency / 5000, Microsoft.ML.Circuits.Kernels.KernelWorkers.SpinFor(passive: false));
    }

    [TestMethod]
    public void OpenMpSpinsBrieflyOnAnIdleMachineAndWaitsPassivelyOnABusyOne()
    {
        Assert.AreEqual(("GOMP_SPINCOUNT", "10000"), ProcessTuning.OpenMpWait(0, 2));
        Assert.AreEqual(("GOMP_SPINCOUNT", "10000"), ProcessTuning.OpenMpWait(7, 16));
        Assert.AreEqual(("OMP_WAIT_POLICY", "PASSIVE"), ProcessTuning.OpenMpWait(1, 2), "half the cores busy");
        Assert.AreEqual(("OMP_WAIT_POLICY", "PASSIVE"), ProcessTuning.OpenMpWait(12, 2));
        Assert.AreEqual(("OMP_WAIT_POLICY", "PASSIVE"), ProcessTuning.OpenMpWait(null, 2), "unknown load: the safe choice");
    }

    [TestMethod]
    public void TheLoadIsTheRunnableCountOfProcLoadavgNotItsAverage()
    {
        // "1-, 5-, 15-minute averages, runnable/total threads, last pid": the averages still count processes that
        // have ended (a benchmark's previous run made the next one wait passively); the runnable count is now.
        Assert.AreEqual(1, ProcessTuning.Runnable("3.20 1.94 1.70 1/345 12345\n"));
        Assert.AreEqual(17, ProcessTuning.Runnable("0.00 0.01 0.05 17/2048 99"));
        Assert.IsNull(ProcessTuning.Runnable("3.20 1.94 1.70"));
        Assert.IsNull(ProcessTuning.Runnable("3.20 1.94 1.70 x/345 1"));
        Assert.IsNull(ProcessTuning.Runnable("3.20 1.94 1.70 0/345 1"), "the reader itself is always runnable");
        Assert.IsNull(ProcessTuning.Runnable(""));
        if (OperatingSystem.IsLinux())
            Assert.IsNotNull(ProcessTuning.Runnable(File.ReadAllText("/proc/loadavg")), "this machine's /proc/loadavg parses");
    }
}
