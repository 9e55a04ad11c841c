using System.Diagnostics;
using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

/// <summary>
/// Real fault injection: strace attaches to this test process and makes fsync of one temp file fail with EIO.
/// .NET's own Flush(true) would report success here; FileCheckpoint must not.
/// </summary>
public sealed class FsyncFaultInjectionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Save_FsyncFailsWithEio_TypedErrorPreviousRecordIntactTempRemovedNoRetry()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };
        using var checkpoint = new FileCheckpoint(_dir.Path, options);
        await checkpoint.SaveAsync(new ConformanceOffset(100), 10, ct);
        var recordPath = _dir.File("checkpoint_conformance.json");
        var before = await File.ReadAllBytesAsync(recordPath, ct);

        const string TempName = "checkpoint_conformance.json.eio.tmp";
        var tempPath = _dir.File(TempName);
        var logPath = _dir.File("strace.log");
        DurableFile.TempNameForTests = (directory, fileName) => directory == _dir.Path ? TempName : null;
        using var strace = StartStrace(tempPath, logPath);
        try
        {
            var ex = await Should.ThrowAsync<CheckpointException>(async () => await checkpoint.SaveAsync(new ConformanceOffset(200), 20, ct));
            ex.ErrorCode.ShouldBe(CheckpointErrorCode.WriteFailed);
            ex.Message.ShouldContain("fsync");
            ex.Message.ShouldContain("errno 5");
            ex.Message.ShouldContain("unchanged");
        }
        finally
        {
            DurableFile.TempNameForTests = null;
            strace.Kill(); // detaches
            await strace.WaitForExitAsync(ct);
        }

        (await File.ReadAllBytesAsync(recordPath, ct)).ShouldBe(before);
        File.Exists(tempPath).ShouldBeFalse();
        (await checkpoint.LoadAsync("conformance", ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(10UL);

        // strace saw exactly one fsync of the temp file, and it was the injected failure: no retry on the same file.
        var fsyncs = (await File.ReadAllLinesAsync(logPath, ct)).Where(l => l.Contains("fsync(", StringComparison.Ordinal)).ToList();
        fsyncs.ShouldHaveSingleItem().ShouldContain("EIO");

        // The next save (a new temp file) succeeds.
        await checkpoint.SaveAsync(new ConformanceOffset(200), 20, ct);
        (await checkpoint.LoadAsync("conformance", ct)).ShouldNotBeNull().CommittedEventCount.ShouldBe(20UL);
    }

    private static Process StartStrace(string path, string logPath)
    {
        var info = new ProcessStartInfo("strace")
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "-f", "-p", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), "-P", path, "-e", "trace=fsync", "-e", "inject=fsync:error=EIO:when=1", "-o", logPath })
        {
            info.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("strace is required for fault-injection tests: apt-get install -y strace (eng/test.sh installs it).", ex);
        }

        // Wait until strace reports that it attached to our threads.
        var attached = new TaskCompletionSource();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("attached", StringComparison.Ordinal) == true)
            {
                attached.TrySetResult();
            }
        };
        process.BeginErrorReadLine();
        if (!attached.Task.Wait(TimeSpan.FromSeconds(15)))
        {
            process.Kill();
            throw new InvalidOperationException("strace did not attach to the test process within 15 s (is ptrace allowed?).");
        }

        Thread.Sleep(300); // strace attaches thread by thread after its first message
        return process;
    }
}
