using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Tests.Support;
using Cdc.Checkpoint.Postgres.Validation;
using Npgsql.Replication.PgOutput.Messages;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Postgres.Tests.Replication.ReplicationSessionServerTests;

namespace Cdc.Checkpoint.Postgres.Tests.Replication;

/// <summary>
/// Issue 12 item 7 on a real PostgreSQL 15: a <see cref="FileCheckpoint"/> with default options (no codecs configured)
/// works with a <see cref="PostgresReplicationSession"/> across restarts.
/// </summary>
public sealed class DefaultsServerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<List<long>> ConsumeAsync(PostgresReplicationSession session, int transactions)
    {
        var ids = new List<long>();
        var commits = 0;
        await foreach (var message in session.ReadAsync(Ct))
        {
            switch (message)
            {
                case InsertMessage insert:
                    ids.Add(await ReadIdAsync(insert, Ct));
                    break;
                case CommitMessage commit:
                    session.Acknowledger.MarkProcessed(commit, 1);
                    (await session.Acknowledger.CheckpointAsync(Ct)).ShouldBeTrue();
                    if (++commits == transactions)
                    {
                        return ids;
                    }

                    break;
            }
        }

        return ids;
    }

    [Fact]
    public async Task OpenAsync_FileCheckpointWithDefaultOptionsAfterRestart_ResumesWithoutConfiguringCodecs()
    {
        await using var scenario = await PgScenario.CreateAsync();
        var directory = new TempDirectory("cdc-pg-defaults-");
        try
        {
            await using (var checkpoint = new FileCheckpoint(directory.Path))
            await using (var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, checkpoint, Options(scenario), cancellationToken: Ct))
            {
                session.Validation.Verdict.ShouldBe(PostgresResumeVerdict.FreshStart);
                await scenario.InsertAsync(1, 3);
                (await ConsumeAsync(session, 3)).ShouldBe([1L, 2L, 3L]);
            }

            // A new process: a new FileCheckpoint with default options, as a user writes it.
            await scenario.InsertAsync(4, 2);
            await using (var checkpoint = new FileCheckpoint(directory.Path))
            await using (var session = await PostgresReplicationSession.OpenAsync(scenario.ConnectionString, checkpoint, Options(scenario), cancellationToken: Ct))
            {
                session.Validation.Verdict.ShouldBe(PostgresResumeVerdict.Resume);
                session.StartPosition.CommittedEventCount.ShouldBe(3UL);
                (await ConsumeAsync(session, 2)).ShouldBe([4L, 5L]); // and the saves after the restart pass the typed guards
            }

            await using (var checkpoint = new FileCheckpoint(directory.Path))
            {
                var record = (await checkpoint.LoadAsync("postgres", Ct)).ShouldNotBeNull();
                record.CommittedEventCount.ShouldBe(5UL);
                (await checkpoint.LoadOffsetAsync<PostgresOffset>("postgres", Ct)).ShouldNotBeNull().SlotName.ShouldBe(scenario.SlotName);
            }
        }
        finally
        {
            directory.Dispose();
        }
    }
}
