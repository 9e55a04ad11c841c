using System.Globalization;
using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Leasing;

namespace Cdc.Checkpoint.Files;

// The segment file of a CheckpointLog: recovery reads it frame by frame, a save appends one frame and flushes it, and a
// compaction (a new owner, or a full segment) writes the live records into a fresh segment through the durable replace.
// Every access first proves the segment is the one this owner last read or wrote. Callers hold the lease's write gate.
public sealed partial class CheckpointLog
{
    /// <summary>
    /// Appends one frame at the tail and flushes it: the whole cost of a save. The caller has opened the segment and
    /// proven its tail (<see cref="OpenSegment"/>, <see cref="RefuseIfRewritten"/>).
    /// </summary>
    private void Append(LogState state, ulong sequence, ReadOnlySpan<byte> payload)
    {
        var fd = state.Fd;
        var frame = state.NextFrameBuffer(LogSegment.FrameLength(payload.Length));
        LogSegment.WriteFrame(frame, sequence, payload);
        var errno = LibC.PwriteAll(fd, frame, state.Tail);
        if (errno != 0)
        {
            throw state.Fail(_segmentPath, string.Create(CultureInfo.InvariantCulture, $"writing the frame of sequence {sequence} at byte {state.Tail} failed: {LibC.Describe(errno)}"), errno == LibC.ENOSPC || errno == LibC.EDQUOT);
        }

        errno = LibC.Fdatasync(fd);
        if (errno != 0)
        {
            throw state.Fail(_segmentPath, string.Create(CultureInfo.InvariantCulture, $"fdatasync after the frame of sequence {sequence} failed: {LibC.Describe(errno)}"), diskFull: false);
        }

        state.Tail += frame.Length;
        state.FrameWritten();

        // No stamp is taken here: the one taken when the segment was opened still names its inode (which cannot be
        // freed and reused while this descriptor holds it) and its size (appends never change it), and asking for the
        // times now would make the next append log an inode update (LibC.LstatWithoutTimes). What the file holds is
        // proven before the next append by reading it back (RefuseIfRewritten).
    }

    /// <summary>
    /// Proves, before an append (and on a load), that nobody wrote into the segment where this owner's frames end: the
    /// last frame this owner wrote is still there, byte for byte, and the next <paramref name="zeroBytes"/> bytes (where
    /// the next frame goes, and the length field after it) are still zeros.
    /// </summary>
    /// <remarks>
    /// One <c>pread</c> of a few hundred bytes from the page cache, instead of comparing the segment's times: a
    /// second writer's frame at the tail, or an older copy of the segment written over it in place, is refused however
    /// quickly it follows this owner's last write (timestamps of a coarse file clock can miss a write within the same
    /// tick). Bytes before the last frame are not read again; recovery refuses a damaged frame followed by a valid one,
    /// and sequences out of order.
    /// </remarks>
    private void RefuseIfRewritten(LogState state, int zeroBytes)
    {
        var last = state.LastFrame;
        var start = state.Tail - last.Length;
        var check = state.ProofBuffer(last.Length + Math.Min(zeroBytes, state.SegmentLength - state.Tail));
        var read = LibC.PreadAll(state.Fd, check, start);
        if (read < 0)
        {
            throw SafeFile.Failure(-read, _segmentPath, "read back the end of the frames");
        }

        if (read < check.Length)
        {
            throw ModifiedExternally(string.Create(CultureInfo.InvariantCulture, $"it ends at byte {start + read}, inside the frames this owner wrote"));
        }

        if (!check[..last.Length].SequenceEqual(last))
        {
            throw ModifiedExternally(string.Create(CultureInfo.InvariantCulture, $"the frame this owner last wrote, at byte {start}, is not there any more"));
        }

        if (check[last.Length..].ContainsAnyExcept((byte)0))
        {
            throw ModifiedExternally(string.Create(CultureInfo.InvariantCulture, $"bytes were written at byte {state.Tail}, after the last frame this owner wrote"));
        }
    }

    /// <summary>Writes the live records and <paramref name="record"/> to a fresh segment through the durable replace.</summary>
    /// <remarks>
    /// <paramref name="directoryNow"/> is the directory's stat of the lease check just before: it judges the directory's
    /// permissions, and the rename is flushed through the lease's directory descriptor (as a FileCheckpoint save).
    /// </remarks>
    private void Compact(OwnerLease lease, LogState state, in FileStatus directoryNow, CheckpointRecord record)
    {
        var live = state.Records.Values.Where(r => !string.Equals(r.SourceType, record.SourceType, StringComparison.Ordinal)).Append(record);
        var (bytes, tail) = LogSegment.Build(state.SegmentId + 1, live, _options.SegmentBytes, state.SegmentBuffer, out var lastFrameStart);
        state.SegmentBuffer = bytes;
        state.CloseSegment();
        try
        {
            DurableFile.Replace(lease, directoryNow, SegmentFileName, bytes, _directory.Logger);
        }
        catch (CheckpointException)
        {
            // The old segment may or may not have been replaced (a directory fsync can fail after the rename): read it
            // again next time, and start a fresh segment before appending anything.
            state.Loaded = false;
            state.Fresh = false;
            lease.Remember(_segmentPath, null);
            throw;
        }

        lease.Remember(_segmentPath, lease.StatEntryAfterWrite(_directory.Logger, SegmentFileName));
        state.SegmentId++;
        state.SegmentLength = bytes.Length;
        state.Tail = tail;
        state.SegmentWritten(bytes.AsSpan(lastFrameStart, tail - lastFrameStart));
        state.Exists = true;
        state.Fresh = true;
        Log.LogSegmentWritten(_directory.Logger, _segmentPath, state.SegmentId, state.Records.Count + (state.Records.ContainsKey(record.SourceType) ? 0 : 1), bytes.Length);
    }

    /// <summary>Opens the segment this owner wrote, for appends: the same inode it remembers, a private regular file.</summary>
    private void OpenSegment(OwnerLease lease, LogState state, in FileStatus directoryNow)
    {
        DurableFile.RefuseSharedDirectory(directoryNow, DirectoryPath, _segmentPath);
        var fd = LibC.OpenReadWriteNoFollow(_segmentPath);
        if (fd < 0)
        {
            throw SafeFile.Failure(-fd, _segmentPath, "open the segment for writing");
        }

        try
        {
            var errno = LibC.Fstat(fd, out var status);
            if (errno != 0)
            {
                throw SafeFile.Failure(errno, _segmentPath, "fstat");
            }

            SafeFile.Check(status, _segmentPath, SafeFile.Rules.All);
            CheckUnchanged(lease, status);
            if (status.Size != state.SegmentLength)
            {
                throw ModifiedExternally(string.Create(CultureInfo.InvariantCulture, $"it is {status.Size} bytes, not the {state.SegmentLength} this owner wrote"));
            }
        }
        catch
        {
            LibC.Close(fd);
            throw;
        }

        state.Fd = fd;
    }

    /// <summary>
    /// Reads the segment into <paramref name="state"/> unless it is loaded; when it is, and <paramref name="checkSegment"/>
    /// (a save checks it itself, after the lease), proves by path that it is still the file this owner last read or wrote.
    /// </summary>
    private void Load(OwnerLease lease, LogState state, bool checkSegment = true)
    {
        if (state.Loaded)
        {
            if (checkSegment)
            {
                // While the segment is open for appends its stamp is taken without times (see Append); the frames at
                // its tail are read back by the caller instead.
                CheckUnchanged(lease, OwnedDirectory.StatNow(_segmentPath, withTimes: state.Fd < 0));
            }

            return;
        }

        var bytes = SafeFile.ReadAll(_segmentPath, ReadLimit, SafeFile.Rules.All, out var status);
        if (bytes is not null)
        {
            CheckUnchanged(lease, status);
        }
        else if (state.Exists)
        {
            CheckUnchanged(lease, null);
        }

        if (bytes is null)
        {
            state.Records = new Dictionary<string, CheckpointRecord>(StringComparer.Ordinal);
            state.MaxSequence = 0;
            state.SegmentId = 0;
            state.Exists = false;
            state.Fresh = false;
        }
        else
        {
            var contents = LogSegment.Read(bytes, _segmentPath, state.Codecs, _options.MaxRecordBytes);
            if (contents.TornTail is { } torn)
            {
                Log.LogTornTailIgnored(_directory.Logger, _segmentPath, torn.Position, torn.Reason);
            }

            state.Records = contents.Latest;
            state.MaxSequence = contents.Frames.Count == 0 ? 0 : contents.Frames[^1].Record.Sequence;
            state.SegmentId = contents.SegmentId;
            state.SegmentLength = contents.Length;
            state.Tail = contents.Tail;
            state.Fresh &= contents.TornTail is null;
            state.Exists = true;
            lease.Remember(_segmentPath, status);
        }

        state.Loaded = true;
    }

    /// <summary>The most a segment can be: the largest configured segment, or twice the frames of a compaction.</summary>
    private long ReadLimit => Math.Max(CheckpointLogOptions.MaxSegmentBytes, _options.SegmentBytes);

    private void CheckUnchanged(OwnerLease lease, FileStatus? now) =>
        _directory.RefuseIfChanged(lease, _segmentPath, now, expectedToExist: true, SegmentWhat);

    private CheckpointException ModifiedExternally(string reason) => _directory.ModifiedExternally(_segmentPath, SegmentWhat, reason);
}
