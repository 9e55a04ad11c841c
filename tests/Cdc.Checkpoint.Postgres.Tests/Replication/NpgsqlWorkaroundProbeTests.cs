using Cdc.Checkpoint.Postgres.Tests.Support;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// Npgsql itself, without our workarounds, on a real server: each test pins one Npgsql behaviour a workaround in
/// docs/postgres.md exists for. When an Npgsql upgrade fixes one, its probe fails, and the workaround can go.
/// </summary>
public sealed class NpgsqlWorkaroundProbeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SendStatusUpdate_BeforeCopyBothResponse_ThrowsAndLeavesTheFeedbackLockTaken()
    {
        await using var scenario = await PgScenario.CreateAsync();
        await scenario.CreateSlotAsync();
        await using var connection = new LogicalReplicationConnection(scenario.ReplicationConnectionString);
        await connection.Open(Ct);
        var walSender = connection.ProcessID;

        // Freeze the walsender so START_REPLICATION gets no CopyBothResponse yet: Npgsql is in its replication state,
        // but has not created the feedback timers that SendFeedback re-arms in its finally block.
        await SignalAsync("STOP", walSender);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var stream = connection.StartReplication(new PgOutputReplicationSlot(scenario.SlotName), new PgOutputReplicationOptions("pub", PgOutputProtocolVersion.V1), stop.Token)
            .GetAsyncEnumerator(stop.Token);
        var first = stream.MoveNextAsync().AsTask();
        Exception? early;
        try
        {
            early = await Record.ExceptionAsync(() => connection.SendStatusUpdate(Ct));
        }
        finally
        {
            await SignalAsync("CONT", walSender);
        }

        early.ShouldBeOfType<NullReferenceException>();

        // The stream starts; a status update now waits forever for the feedback lock the failed one never released.
        await ReplicationSessionServerTests.WaitUntilAsync(() => Task.FromResult(connection.LastReceivedLsn != default), "the first keepalive");
        var later = connection.SendStatusUpdate(Ct);
        (await Task.WhenAny(later, Task.Delay(TimeSpan.FromSeconds(3), Ct))).ShouldNotBe(later, "the feedback lock stays taken");

        // Only ending the connection frees it (the session does so, and never sends an update before the first message).
        (await scenario.ScalarAsync<bool>("SELECT pg_terminate_backend($1)", walSender)).ShouldBeTrue();
        await Should.ThrowAsync<Exception>(() => first.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        later.IsCompleted.ShouldBeFalse();
    }

    private static async Task SignalAsync(string signal, int pid)
    {
        using var kill = System.Diagnostics.Process.Start("kill", $"-{signal} {pid}");
        await kill.WaitForExitAsync(Ct);
        kill.ExitCode.ShouldBe(0, $"kill -{signal} {pid}");
    }
}
