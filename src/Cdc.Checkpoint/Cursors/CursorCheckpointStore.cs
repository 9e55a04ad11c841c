using Cdc.Checkpoint.Diagnostics;
using Cdc.Checkpoint.Files;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cdc.Checkpoint.Cursors;

/// <summary>
/// Durable cursor checkpoints: one small JSON file per cursor id under <c>{directory}/cursors/</c>, bound to the
/// identity of the consumer that owns it.
/// </summary>
/// <remarks>
/// <para>
/// Fails closed: a file bound to another (or no) consumer identity is an
/// <see cref="CheckpointErrorCode.IdentityMismatch"/>, and a damaged file is <see cref="CheckpointErrorCode.Corrupt"/>,
/// never a silent restart from position 0. Saves are atomic and durable (temp file 0600, fsync, rename, directory
/// fsync; <c>cursors/</c> is created lazily with mode 0700) and never move a cursor backwards: going back requires
/// <see cref="RewindAsync"/> with a reason, which is logged.
/// </para>
/// <para>
/// Delivery is at-least-once: save after the batch's side effects are done, and make handlers idempotent, because a
/// crash between the two replays the batch.
/// </para>
/// <para>
/// Thread-safety: all members are safe to call concurrently; the operations of one store instance are serialized.
/// The file operations are synchronous (a save blocks for its fsyncs), so the returned tasks are already complete.
/// Two processes (or two store instances) writing the same cursor are not coordinated here; guard the directory with
/// the owner lease.
/// </para>
/// </remarks>
public sealed class CursorCheckpointStore
{
    /// <summary>The longest cursor id.</summary>
    public const int MaxCursorIdLength = 128;

    private const string FileSuffix = ".cursor.json";

    private readonly CursorCheckpointStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();

    /// <summary>Creates a store over <paramref name="directory"/>, which must exist when the store is used.</summary>
    /// <param name="directory">The data directory; cursor files go to its <c>cursors/</c> subdirectory.</param>
    /// <param name="options">Settings; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for <see cref="CursorCheckpoint.SavedAt"/>; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="loggerFactory">Logger source; none by default.</param>
    /// <exception cref="ArgumentException"><paramref name="directory"/> is empty.</exception>
    public CursorCheckpointStore(string directory, CursorCheckpointStoreOptions? options = null, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        DataDirectory = Path.GetFullPath(directory);
        CursorDirectory = Path.Combine(DataDirectory, "cursors");
        _options = options ?? new CursorCheckpointStoreOptions();
        _time = timeProvider ?? TimeProvider.System;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<CursorCheckpointStore>();
    }

    /// <summary>The data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>The directory holding the cursor files (<c>{DataDirectory}/cursors</c>).</summary>
    public string CursorDirectory { get; }

    /// <summary>Whether <paramref name="cursorId"/> can be a cursor id: 1-128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit.</summary>
    /// <param name="cursorId">The candidate.</param>
    /// <returns><see langword="true"/> when valid.</returns>
    public static bool IsValidCursorId(string? cursorId)
    {
        if (string.IsNullOrEmpty(cursorId) || cursorId.Length > MaxCursorIdLength || !char.IsAsciiLetterOrDigit(cursorId[0]))
        {
            return false;
        }

        foreach (var c in cursorId)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The path of the file of <paramref name="cursorId"/>.</summary>
    /// <param name="cursorId">A valid cursor id.</param>
    /// <returns>The full path.</returns>
    /// <exception cref="ArgumentException">The id is not valid (see <see cref="IsValidCursorId"/>).</exception>
    public string GetPath(string cursorId)
    {
        ValidateCursorId(cursorId);
        return Path.Combine(CursorDirectory, cursorId + FileSuffix);
    }

    /// <summary>Loads the checkpoint of <paramref name="cursorId"/>, checking that it belongs to <paramref name="expectedIdentity"/>.</summary>
    /// <param name="cursorId">The cursor id.</param>
    /// <param name="expectedIdentity">The identity of the consumer resuming the cursor.</param>
    /// <param name="cancellationToken">Cancels the load before it starts.</param>
    /// <returns>The checkpoint, or <see langword="null"/> when the cursor was never saved (start from <see cref="CursorCheckpoint.NotStarted"/>).</returns>
    /// <exception cref="ArgumentException">The cursor id or identity is not valid.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.IdentityMismatch"/> (another or no identity), <see cref="CheckpointErrorCode.Corrupt"/>,
    /// <see cref="CheckpointErrorCode.UnsupportedFormatVersion"/>, <see cref="CheckpointErrorCode.InsecurePermissions"/>,
    /// <see cref="CheckpointErrorCode.SymbolicLinkRefused"/>, <see cref="CheckpointErrorCode.RecordTooLarge"/>, or
    /// <see cref="CheckpointErrorCode.DirectoryNotFound"/> when the data directory does not exist.
    /// </exception>
    public ValueTask<CursorCheckpoint?> LoadAsync(string cursorId, string expectedIdentity, CancellationToken cancellationToken = default)
    {
        var path = GetPath(cursorId);
        CursorCheckpoint.ValidateIdentity(expectedIdentity, nameof(expectedIdentity));
        return Complete(() => Load(path, cursorId, expectedIdentity), cancellationToken);
    }

    /// <summary>
    /// Durably saves <paramref name="checkpoint"/> as the position of <paramref name="cursorId"/>. Saving the stored
    /// position again is a no-op; moving backwards is refused.
    /// </summary>
    /// <param name="cursorId">The cursor id.</param>
    /// <param name="checkpoint">The new position; its identity must match the stored one.</param>
    /// <param name="cancellationToken">Cancels the save before it writes.</param>
    /// <returns>The stored checkpoint, with <see cref="CursorCheckpoint.SavedAt"/>.</returns>
    /// <exception cref="ArgumentException">The cursor id is not valid.</exception>
    /// <exception cref="CheckpointException">
    /// <see cref="CheckpointErrorCode.OffsetRegression"/> when <paramref name="checkpoint"/> is behind the stored
    /// position (nothing written; use <see cref="RewindAsync"/>); the load errors of <see cref="LoadAsync"/> for the
    /// stored file (nothing written); <see cref="CheckpointErrorCode.WriteFailed"/> when writing failed (the previous
    /// file is intact).
    /// </exception>
    public ValueTask<CursorCheckpoint> SaveAsync(string cursorId, CursorCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        var path = GetPath(cursorId);
        ArgumentNullException.ThrowIfNull(checkpoint);
        return Complete(() => Save(path, cursorId, checkpoint, cancellationToken), cancellationToken, "save");
    }

    /// <summary>
    /// Sets the position of <paramref name="cursorId"/> to <paramref name="checkpoint"/> even if that is backwards,
    /// and replaces a corrupt file or one bound to another identity. The only way back; logged as a warning with
    /// <paramref name="reason"/>.
    /// </summary>
    /// <param name="cursorId">The cursor id.</param>
    /// <param name="checkpoint">The new position and identity.</param>
    /// <param name="reason">Why; required, logged verbatim.</param>
    /// <param name="cancellationToken">Cancels the rewind before it writes.</param>
    /// <returns>The stored checkpoint.</returns>
    /// <exception cref="ArgumentException">The cursor id is not valid or <paramref name="reason"/> is empty.</exception>
    /// <exception cref="CheckpointException"><see cref="CheckpointErrorCode.WriteFailed"/> when writing failed, or <see cref="CheckpointErrorCode.DirectoryNotFound"/>.</exception>
    public ValueTask<CursorCheckpoint> RewindAsync(string cursorId, CursorCheckpoint checkpoint, string reason, CancellationToken cancellationToken = default)
    {
        var path = GetPath(cursorId);
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return Complete(() => Rewind(path, cursorId, checkpoint, reason, cancellationToken), cancellationToken, "rewind");
    }

    // The file work is synchronous; its outcome is returned as a completed task, with failures and cancellation
    // inside the task (as an asynchronous implementation would) rather than thrown from the call.
    // `metricOperation` names writing operations for the cdc.checkpoint.cursor.saves counter; null for reads.
    private static ValueTask<T> Complete<T>(Func<T> operation, CancellationToken cancellationToken, string? metricOperation = null)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<T>(cancellationToken);
        }

        try
        {
            var result = operation();
            if (metricOperation is not null)
            {
                StreamingMetrics.RecordCursorSave(metricOperation, error: null);
            }

            return ValueTask.FromResult(result);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<T>(cancellationToken);
        }
        catch (CheckpointException ex)
        {
            if (metricOperation is not null)
            {
                StreamingMetrics.RecordCursorSave(metricOperation, ex.ErrorCode);
            }

            return ValueTask.FromException<T>(ex);
        }
        catch (Exception ex)
        {
            // Anything else the file work throws (ObjectDisposedException, an unexpected IOException) goes into the
            // task too: the caller that awaits later must see it there.
            return ValueTask.FromException<T>(ex);
        }
    }

    private CursorCheckpoint? Load(string path, string cursorId, string expectedIdentity)
    {
        lock (_gate)
        {
            EnsureDataDirectory();
            var checkpoint = Read(path, cursorId, expectedIdentity);
            if (checkpoint is not null)
            {
                Log.CursorLoaded(_logger, cursorId, checkpoint.Started, checkpoint.Position, path);
            }

            return checkpoint;
        }
    }

    private CursorCheckpoint Save(string path, string cursorId, CursorCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            EnsureDataDirectory();
            CursorCheckpoint? existing;
            try
            {
                existing = Read(path, cursorId, checkpoint.ConsumerIdentity);
            }
            catch (CheckpointException ex)
            {
                Log.CursorSaveRefused(_logger, cursorId, ex.Message);
                throw;
            }

            if (existing is not null)
            {
                var order = checkpoint.CompareProgress(existing);
                if (order < 0)
                {
                    var message = $"Refusing to move cursor '{cursorId}' of '{checkpoint.ConsumerIdentity}' back from {existing.DescribePosition()} to {checkpoint.DescribePosition()} in '{path}'. Nothing was written. If replaying is intended, call RewindAsync with a reason.";
                    Log.CursorSaveRefused(_logger, cursorId, message);
                    throw new CheckpointException(CheckpointErrorCode.OffsetRegression, message) { Path = path };
                }

                if (order == 0)
                {
                    return existing;
                }
            }

            cancellationToken.ThrowIfCancellationRequested();
            var saved = Write(cursorId, path, checkpoint);
            Log.CursorSaved(_logger, cursorId, saved.Started, saved.Position, path);

            return saved;
        }
    }

    private CursorCheckpoint Rewind(string path, string cursorId, CursorCheckpoint checkpoint, string reason, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            EnsureDataDirectory();
            string previous;
            try
            {
                previous = Read(path, cursorId, checkpoint.ConsumerIdentity)?.DescribePosition() ?? "no checkpoint";
            }
            catch (CheckpointException ex)
            {
                previous = $"an unusable file ({ex.ErrorCode}: {ex.Message})";
            }

            cancellationToken.ThrowIfCancellationRequested();
            var saved = Write(cursorId, path, checkpoint);
            var now = saved.DescribePosition();
            Log.CursorRewound(_logger, cursorId, previous, now, reason);
            return saved;
        }
    }

    private static void ValidateCursorId(string cursorId)
    {
        if (!IsValidCursorId(cursorId))
        {
            throw new ArgumentException(
                $"Invalid cursor id '{cursorId}': use 1-{MaxCursorIdLength} ASCII letters, digits, '.', '_' or '-', starting with a letter or digit (for example 'orders-projector').",
                nameof(cursorId));
        }
    }

    private void EnsureDataDirectory()
    {
        if (!Directory.Exists(DataDirectory))
        {
            throw new CheckpointException(
                CheckpointErrorCode.DirectoryNotFound,
                $"The cursor data directory '{DataDirectory}' does not exist. Create it (mode 0700) or fix the path; a missing directory is not treated as 'no cursor yet' because that would replay from the beginning.")
            { Path = DataDirectory };
        }
    }

    private CursorCheckpoint? Read(string path, string cursorId, string expectedIdentity)
    {
        byte[]? bytes;
        try
        {
            bytes = DurableFile.ReadPrivate(path, _options.MaxFileBytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.Corrupt,
                $"Could not read cursor file '{path}': {ex.Message}. Refusing to treat it as missing; check the file and the disk.",
                ex)
            { Path = path };
        }

        return bytes is null ? null : CursorFileFormat.Decode(bytes, path, cursorId, expectedIdentity);
    }

    private CursorCheckpoint Write(string cursorId, string path, CursorCheckpoint checkpoint)
    {
        var saved = checkpoint with { SavedAt = _time.GetUtcNow(), FormatVersion = CursorCheckpoint.CurrentFormatVersion };
        try
        {
            DurableFile.CreatePrivateDirectory(CursorDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.WriteFailed,
                $"Could not create the cursor directory '{CursorDirectory}': {ex.Message}. Check that '{DataDirectory}' is writable by this user.",
                ex)
            { Path = path };
        }

        DurableFile.Replace(CursorDirectory, Path.GetFileName(path), CursorFileFormat.Encode(cursorId, saved));
        return saved;
    }
}
