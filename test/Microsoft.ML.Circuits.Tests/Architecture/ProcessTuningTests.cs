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
    }

    [TestMethod]
    public void OpenMpSpinsBrieflyOnAnIdleMachineAndWaitsPassivelyOnABusyOne()
    {
        Assert.AreEqual(("GOMP_SPINCOUNT", "10000"), ProcessTuning.OpenMpWait(0.3, 2));
        Assert.AreEqual(("GOMP_SPINCOUNT", "10000"), ProcessTuning.OpenMpWait(7.9, 16));
        Assert.AreEqual(("OMP_WAIT_POLICY", "PASSIVE"), ProcessTuning.OpenMpWait(1.0, 2), "half the cores busy");
        Assert.AreEqual(("OMP_WAIT_POLICY", "PASSIVE"), ProcessTuning.OpenMpWait(12.0, 2));
        Assert.AreEqual(("OMP_WAIT_POLICY", "PASSIVE"), ProcessTuning.OpenMpWait(null, 2), "unknown load: the safe choice");
    }
}
