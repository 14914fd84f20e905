using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.ExceptionServices;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace GpuCheck;

/// <summary>
/// <c>gpu-check tests</c>: runs the [TestMethod]s of test classes of Microsoft.ML.Circuits.Tests by reflection, without a
/// test host (the GPU host has no .NET SDK). Supported: [TestClass] classes with a public parameterless constructor,
/// [ClassInitialize]/[ClassCleanup], [TestInitialize]/[TestCleanup], IDisposable, [DataRow], [Ignore], async tests.
/// Outcomes as MSTest reports them: Assert.Inconclusive is <c>skipped</c>, any other exception <c>failed</c>.
/// Exit code 0 when nothing failed, 1 otherwise, 2 for bad arguments.
/// </summary>
internal static class TestRunner
{
    /// <summary>The test classes that need CUDA; the others run under `dotnet test` on any machine.</summary>
    static readonly string[] DefaultClasses = ["GpuTests"];

    public static int Run(string[] args)
    {
        var names = new List<string>();
        bool list = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--class" && i + 1 < args.Length) names.Add(args[++i]);
            else if (args[i] == "--list") list = true;
            else
            {
                Console.Error.WriteLine($"error: unknown argument '{args[i]}' (expected --class NAME or --list).");
                return 2;
            }
        }
        if (names.Count == 0) names.AddRange(DefaultClasses);

        var assembly = typeof(Microsoft.ML.Circuits.Tests.GpuTests).Assembly;
        var types = new List<Type>();
        foreach (var name in names)
        {
            var type = assembly.GetType(name) ?? assembly.GetTypes().FirstOrDefault(t => t.Name == name);
            if (type is null || type.GetCustomAttribute<TestClassAttribute>() is null)
            {
                Console.Error.WriteLine($"error: {assembly.GetName().Name} has no test class '{name}'.");
                return 2;
            }
            types.Add(type);
        }

        int passed = 0, failed = 0, skipped = 0;
        foreach (var type in types)
        {
            var tests = type.GetMethods(BindingFlags.Public | BindingFlags.Instance)
                .Where(m => m.GetCustomAttribute<TestMethodAttribute>() is not null)
                .OrderBy(m => m.MetadataToken)
                .SelectMany(m => Cases(m).Select(data => (Method: m, Data: data)))
                .ToList();
            if (list)
            {
                foreach (var (method, data) in tests) Console.Out.WriteLine(Name(type, method, data));
                continue;
            }
            var classInit = type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.GetCustomAttribute<ClassInitializeAttribute>() is not null).ToList();
            var classCleanup = type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.GetCustomAttribute<ClassCleanupAttribute>() is not null).ToList();
            var (initOutcome, initMessage) = Execute(() => { foreach (var m in classInit) Call(null, m, m.GetParameters().Length == 0 ? [] : [null]); });
            foreach (var (method, data) in tests)
            {
                string name = Name(type, method, data);
                var clock = Stopwatch.StartNew();
                var (outcome, message) = initOutcome != Outcome.Passed ? (initOutcome, $"[ClassInitialize] {initMessage}")
                    : method.GetCustomAttribute<IgnoreAttribute>() is { } ignore ? (Outcome.Skipped, $"[Ignore] {ignore.IgnoreMessage}")
                    : Execute(() => RunOne(type, method, data));
                string seconds = clock.Elapsed.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture);
                Console.Out.WriteLine($"{outcome.ToString().ToLowerInvariant(),-8} {name} ({seconds} s){(message is null ? "" : ": " + message)}");
                switch (outcome)
                {
                    case Outcome.Passed: passed++; break;
                    case Outcome.Skipped: skipped++; break;
                    default: failed++; break;
                }
            }
            var (cleanupOutcome, cleanupMessage) = Execute(() => { foreach (var m in classCleanup) Call(null, m, m.GetParameters().Length == 0 ? [] : [null]); });
            if (cleanupOutcome == Outcome.Failed)
            {
                Console.Out.WriteLine($"failed   {type.Name} [ClassCleanup]: {cleanupMessage}");
                failed++;
            }
        }
        if (list) return 0;
        Console.Out.WriteLine($"tests: {passed} passed, {failed} failed, {skipped} skipped");
        return failed == 0 ? 0 : 1;
    }

    enum Outcome { Passed, Failed, Skipped }

    /// <summary>The argument lists of a test method: one per [DataRow], or one empty list.</summary>
    static IEnumerable<object?[]> Cases(MethodInfo method)
    {
        var rows = method.GetCustomAttributes<DataRowAttribute>().ToList();
        if (rows.Count > 0) return rows.Select(r => Convert(method, r.Data));
        if (method.GetParameters().Length > 0)
            throw new NotSupportedException($"{method.DeclaringType!.Name}.{method.Name} takes parameters from a source this runner does not read (only [DataRow]).");
        return [[]];
    }

    static object?[] Convert(MethodInfo method, object?[] data)
    {
        var parameters = method.GetParameters();
        if (data.Length != parameters.Length)
            throw new NotSupportedException($"{method.DeclaringType!.Name}.{method.Name}: a [DataRow] has {data.Length} values for {parameters.Length} parameters.");
        return [.. data.Select((value, i) =>
        {
            var type = Nullable.GetUnderlyingType(parameters[i].ParameterType) ?? parameters[i].ParameterType;
            if (value is null || type.IsInstanceOfType(value)) return value;
            return type.IsEnum ? Enum.ToObject(type, value) : System.Convert.ChangeType(value, type, CultureInfo.InvariantCulture);
        })];
    }

    static string Name(Type type, MethodInfo method, object?[] data) =>
        $"{type.Name}.{method.Name}" + (data.Length == 0 ? "" : $"({string.Join(", ", data.Select(d => d?.ToString() ?? "null"))})");

    /// <summary>One test: a fresh instance, [TestInitialize], the method, [TestCleanup] (also after a failure), Dispose.</summary>
    static void RunOne(Type type, MethodInfo method, object?[] data)
    {
        object instance = Activator.CreateInstance(type)!;
        try
        {
            foreach (var init in type.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => m.GetCustomAttribute<TestInitializeAttribute>() is not null))
                Call(instance, init, []);
            Call(instance, method, data);
        }
        finally
        {
            foreach (var cleanup in type.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => m.GetCustomAttribute<TestCleanupAttribute>() is not null))
                Call(instance, cleanup, []);
            (instance as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Invokes a method, awaits it if it is async, and rethrows what it threw (not the reflection wrapper); returns what
    /// it returned (a <c>Task&lt;int&gt;</c>'s result; null for a plain task).
    /// </summary>
    internal static object? Call(object? instance, MethodInfo method, object?[] arguments)
    {
        object? result;
        try
        {
            result = method.Invoke(instance, arguments);
        }
        catch (TargetInvocationException e) when (e.InnerException is { } inner)
        {
            ExceptionDispatchInfo.Capture(inner).Throw();
            throw;
        }
        switch (result)
        {
            case Task<int> counted: return counted.GetAwaiter().GetResult();
            case Task task: task.GetAwaiter().GetResult(); return null;
            case ValueTask valueTask: valueTask.AsTask().GetAwaiter().GetResult(); return null;
            default: return result;
        }
    }

    static (Outcome, string?) Execute(Action action)
    {
        try
        {
            action();
            return (Outcome.Passed, null);
        }
        catch (AssertInconclusiveException e)
        {
            return (Outcome.Skipped, e.Message);
        }
        catch (Exception e)
        {
            // The whole exception (with its stack) goes to the error stream, the log; the line keeps its first line.
            Console.Error.WriteLine(e);
            return (Outcome.Failed, $"{e.GetType().Name}: {e.Message.Split('\n')[0]}");
        }
    }
}
