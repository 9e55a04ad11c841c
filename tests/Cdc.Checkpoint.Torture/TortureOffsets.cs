using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using NpgsqlTypes;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// The offsets the harness saves: real <see cref="PostgresOffset"/>s whose LSN is a function of the event count, so a
/// record can be checked for coherence (its LSN must be the one of its count) as well as for progress.
/// </summary>
public static class TortureOffsets
{
    /// <summary>The slot every harness offset names.</summary>
    public const string SlotName = "torture_slot";

    /// <summary>The system identifier every harness offset names.</summary>
    public const ulong SystemIdentifier = 7_300_000_000_000_000_001;

    /// <summary>The source type the harness writes.</summary>
    public const string SourceType = PostgresOffset.StreamingSourceType;

    /// <summary>The record file name the harness writes.</summary>
    public static string RecordFileName => CheckpointRecordFile.FileNameFor(SourceType);

    /// <summary>The LSN that goes with event count <paramref name="count"/>: strictly growing with the count.</summary>
    /// <param name="count">The event count.</param>
    /// <returns>The LSN.</returns>
    public static NpgsqlLogSequenceNumber LsnFor(ulong count) => new(0x1_0000_0000UL + (count * 0x80));

    /// <summary>The offset saved with event count <paramref name="count"/>.</summary>
    /// <param name="count">The event count.</param>
    /// <returns>The offset.</returns>
    public static PostgresOffset At(ulong count) => new(LsnFor(count), SlotName, SystemIdentifier, timeline: 1, database: "torture");

    /// <summary>Options every harness checkpoint uses: the PostgreSQL codec, and the directory created (0700) if missing.</summary>
    /// <returns>New options.</returns>
    public static FileCheckpointOptions Options() => new()
    {
        Codecs = OffsetCodecRegistry.Empty.WithPostgres(),
        CreateDirectory = true,
    };

    /// <summary>
    /// Options of the harness's checkpoint logs: the PostgreSQL codec, the directory created (0700) if missing, and a
    /// 64 KiB segment, so that a crash campaign compacts every ~150 saves and kills land in compactions too.
    /// </summary>
    /// <returns>New options.</returns>
    public static CheckpointLogOptions LogOptions() => new()
    {
        Codecs = OffsetCodecRegistry.Empty.WithPostgres(),
        CreateDirectory = true,
        SegmentBytes = CheckpointLogOptions.MinSegmentBytes,
        MaxRecordBytes = 16 * 1024,
    };
}
