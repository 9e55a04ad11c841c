using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Files;

/// <summary>What the owner of a directory knows about its log; shared by every instance of the process on it.</summary>
internal sealed class LogState(OffsetCodecRegistry codecs)
{
    public OffsetCodecRegistry Codecs { get; set; } = codecs;

    public Dictionary<string, CheckpointRecord> Records { get; set; } = new(StringComparer.Ordinal);

    public ulong MaxSequence { get; set; }

    public ulong SegmentId { get; set; }

    public int SegmentLength { get; set; }

    /// <summary>Where the next frame goes.</summary>
    public int Tail { get; set; }

    public bool Loaded { get; set; }

    public bool Exists { get; set; }

    /// <summary>The segment was written by this owner (appends go only into such a segment).</summary>
    public bool Fresh { get; set; }

    public int Fd { get; set; } = -1;

    public int Users { get; set; }

    /// <summary>The buffers saves serialise into (used under the lease's write gate).</summary>
    public CheckpointRecordFile.RecordWriter Writer { get; } = new();

    /// <summary>The bytes of the last segment this owner built, cleared and reused by the next compaction (under the write gate).</summary>
    public byte[]? SegmentBuffer { get; set; }

    // Two frame buffers that change roles at every append: one holds the last frame this owner wrote (what
    // CheckpointLog.RefuseIfRewritten expects at the tail), the other receives the next frame. Used under the write gate.
    private byte[] _last = [];
    private int _lastLength;
    private byte[] _next = [];
    private int _nextLength;
    private byte[] _proof = [];

    /// <summary>The last frame this owner wrote into the segment (empty before the first).</summary>
    public ReadOnlySpan<byte> LastFrame => _last.AsSpan(0, _lastLength);

    /// <summary>A buffer of <paramref name="length"/> bytes for the next frame; <see cref="FrameWritten"/> makes it the last frame.</summary>
    public Span<byte> NextFrameBuffer(int length)
    {
        _next = Grown(_next, length);
        _nextLength = length;
        return _next.AsSpan(0, length);
    }

    /// <summary>The frame of <see cref="NextFrameBuffer"/> is in the segment now: it is the last frame.</summary>
    public void FrameWritten()
    {
        (_last, _next) = (_next, _last);
        _lastLength = _nextLength;
    }

    /// <summary>A fresh segment was written: <paramref name="lastFrame"/> (a copy is kept) is its last frame.</summary>
    public void SegmentWritten(ReadOnlySpan<byte> lastFrame)
    {
        _last = Grown(_last, lastFrame.Length);
        lastFrame.CopyTo(_last);
        _lastLength = lastFrame.Length;
    }

    /// <summary>A buffer of <paramref name="length"/> bytes to read the segment's tail back into.</summary>
    public Span<byte> ProofBuffer(int length)
    {
        _proof = Grown(_proof, length);
        return _proof.AsSpan(0, length);
    }

    private static byte[] Grown(byte[] buffer, int length) => buffer.Length >= length ? buffer : new byte[Math.Max(length, 2 * buffer.Length)];

    private CheckpointException? _failure;

    public void ThrowIfFailed(string path)
    {
        if (_failure is not null)
        {
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"The checkpoint log '{path}' failed earlier and writes nothing more: {_failure.Message}",
                _failure)
            { Path = path };
        }
    }

    /// <summary>Fails the store for good (until every instance is disposed): a flush is never retried on the same file.</summary>
    public CheckpointException Fail(string path, string what, bool diskFull)
    {
        CloseSegment();
        _failure = new CheckpointException(
            CheckpointErrorCode.WriteFailed,
            $"Saving to the checkpoint log '{path}' failed: {what}. The save was not acknowledged and may or may not be on disk; this store writes nothing more. {(diskFull ? "Free disk space, then d" : "Check the disk (dmesg), then d")}ispose every CheckpointLog of the directory and open a new one: it recovers from what is on disk and starts a fresh segment.")
        { Path = path };
        return _failure;
    }

    public void CloseSegment()
    {
        if (Fd >= 0)
        {
            LibC.Close(Fd);
            Fd = -1;
        }
    }
}
