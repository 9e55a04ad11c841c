using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Streaming;

public sealed class StreamingMetricsTests
{
    private sealed class Recorder : IDisposable
    {
        private readonly MeterListener _listener = new();

        public Recorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == CheckpointMetrics.MeterName &&
                    (instrument.Name.StartsWith("cdc.checkpoint.stream", StringComparison.Ordinal) ||
                     instrument.Name.StartsWith("cdc.checkpoint.cursor", StringComparison.Ordinal)))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
            _listener.Start();
        }

        // Other tests run in parallel and record too, so assertions look for this test's own measurements.
        public ConcurrentBag<(string Name, double Value, Dictionary<string, string?> Tags)> Measurements { get; } = [];

        public void Dispose() => _listener.Dispose();

        private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var map = new Dictionary<string, string?>();
            foreach (var tag in tags)
            {
                map[tag.Key] = tag.Value?.ToString();
            }

            Measurements.Add((instrument.Name, value, map));
        }
    }

    [Fact]
    public async Task TriggerAsync_WithDataDirectory_RecordsCheckpointDurationAndSnapshotSize()
    {
        using var recorder = new Recorder();
        using var dir = new TempDirectory();
        await using var manager = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions { DataDirectory = dir.Path }, cancellationToken: TestContext.Current.CancellationToken);
        // A source name long enough to give this test's snapshots a size no other test produces.
        manager.RegisterSource(new string('m', 333));
        var id = (await manager.TriggerAsync(TestContext.Current.CancellationToken))!.Value;
        var size = StreamSnapshotCodec.GetEncodedLength(manager.GetCheckpoint(id)!);

        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.stream.snapshot.size" && m.Value == size);
        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.stream.checkpoints" && m.Value == 1 && !m.Tags.ContainsKey("error.type"));
        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.stream.checkpoint.duration" && m.Value >= 0);
    }

    [Fact]
    public async Task TriggerAsync_WriteFails_RecordsErrorType()
    {
        using var recorder = new Recorder();
        using var dir = new TempDirectory();
        var data = Path.Combine(dir.Path, "stream");
        await using var manager = await StreamCheckpointManager.OpenAsync(new StreamCheckpointOptions { DataDirectory = data }, cancellationToken: TestContext.Current.CancellationToken);
        File.WriteAllText(data, "not a directory");
        await Should.ThrowAsync<CheckpointException>(async () => await manager.TriggerAsync(TestContext.Current.CancellationToken));
        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.stream.checkpoints" && m.Tags.GetValueOrDefault("error.type") == "WriteFailed");
    }

    [Fact]
    public async Task CursorSaveAsync_RefusedRegression_RecordsErrorType()
    {
        using var recorder = new Recorder();
        using var dir = new TempDirectory();
        var store = new CursorCheckpointStore(dir.Path);
        await store.SaveAsync("c", CursorCheckpoint.At(5, "me"), TestContext.Current.CancellationToken);
        await Should.ThrowAsync<CheckpointException>(async () => await store.SaveAsync("c", CursorCheckpoint.At(1, "me"), TestContext.Current.CancellationToken));
        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.cursor.saves" && m.Tags.GetValueOrDefault("cdc.operation") == "save" && !m.Tags.ContainsKey("error.type"));
        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.cursor.saves" && m.Tags.GetValueOrDefault("error.type") == "OffsetRegression");
    }

    [Fact]
    public void CursorGap_LostAndCancelledPositions_AreCountedByKind()
    {
        using var recorder = new Recorder();
        var buffer = new StreamChangelogBuffer(4, ChangelogOverflowPolicy.OverwriteOldest);
        for (ulong s = 0; s < 9; s++)
        {
            buffer.TryPush(new StreamChangelogEntry(0, StreamChangeOp.Insert, s, 0));
        }

        buffer.Cancel(5, 8); // positions 5..7 cancelled, 0..4 overwritten: the cursor delivers 8 only
        var cursor = new ChangelogCursor(buffer, CursorCheckpoint.NotStarted("metrics-cursor-" + Guid.NewGuid().ToString("N")));
        cursor.Poll(10).Records.ShouldHaveSingleItem().Position.ShouldBe(8UL);

        // Other tests' cursors record too: this gap alone has 5 lost and 3 cancelled positions in one measurement each.
        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.cursor.skipped" && m.Value == 5 && m.Tags.GetValueOrDefault("cdc.gap.kind") == "lost");
        recorder.Measurements.ShouldContain(m => m.Name == "cdc.checkpoint.cursor.skipped" && m.Value == 3 && m.Tags.GetValueOrDefault("cdc.gap.kind") == "cancelled");
    }
}
