using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Microsoft.Extensions.Logging;

namespace Cdc.Checkpoint.Manifests;

/// <summary>
/// The layout of a <see cref="FileManifestStore"/> (<c>checkpoints/checkpoint_000042/manifest.json</c>, <c>state.bin</c>
/// next to it, <c>checkpoints/latest</c>) and its raw reads, under the shared validation and recovery of
/// <see cref="ManifestObjects"/>. Reads never follow a symbolic link, refuse files readable by group or other, and cap sizes.
/// </summary>
internal sealed class FileManifestObjects : ManifestObjects
{
    internal const string DirectoryPrefix = "checkpoint_";
    private const long MaxPointerBytes = 64;

    public FileManifestObjects(string rootDirectory, FileManifestStoreOptions options, ILogger logger)
        : base(logger, options.Codecs, options.MaxManifestBytes, options.MaxSidecarBytes)
    {
        RootDirectory = rootDirectory;
        CheckpointsDirectory = Path.Combine(RootDirectory, FileManifestStore.CheckpointsDirectoryName);
        LatestPointerPath = Path.Combine(CheckpointsDirectory, FileManifestStore.LatestPointerFileName);
    }

    public string RootDirectory { get; }

    public string CheckpointsDirectory { get; }

    public string LatestPointerPath { get; }

    public long MaxSidecarBytesLimit => MaxSidecarBytes;

    protected override string Location => $"'{CheckpointsDirectory}'";

    protected override string LatestPointerName => LatestPointerPath;

    protected override string RestoreAdvice => "restore a checkpoint directory from a backup";

    protected override string StartOverAdvice => $"move '{CheckpointsDirectory}' away";

    protected override string? LocalDirectory => CheckpointsDirectory;

    public string DirectoryOf(ulong id) => Path.Combine(CheckpointsDirectory, DirectoryNameOf(id));

    public string ManifestPathOf(ulong id) => Path.Combine(DirectoryOf(id), ManifestFormat.FileName);

    public string SidecarPathOf(ulong id) => Path.Combine(DirectoryOf(id), StateSidecarInfo.FileName);

    protected override string ManifestName(ulong checkpointId) => ManifestPathOf(checkpointId);

    protected override string SidecarName(ulong checkpointId) => SidecarPathOf(checkpointId);

    protected override ValueTask<ManifestIdListing> ListIdsAsync(CancellationToken cancellationToken)
    {
        var directories = Scan();
        return ValueTask.FromResult(new ManifestIdListing(
            directories.Where(d => d.HasManifest).Select(d => d.Id).ToList(),
            directories.Count == 0 ? 0 : directories[^1].Id));
    }

    protected override ValueTask<LatestPointerReading> ReadLatestPointerAsync(CancellationToken cancellationToken) => ValueTask.FromResult(ReadPointer());

    protected override ValueTask<byte[]?> ReadManifestBytesAsync(ulong checkpointId, CancellationToken cancellationToken)
    {
        RefuseLink(CheckpointsDirectory);
        RefuseLink(DirectoryOf(checkpointId));
        return ValueTask.FromResult(ReadFile(ManifestPathOf(checkpointId), MaxManifestBytes));
    }

    protected override ValueTask<byte[]?> ReadSidecarBytesAsync(ulong checkpointId, long maxBytes, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ReadFile(SidecarPathOf(checkpointId), maxBytes));

    protected override ValueTask<bool> HasUndeclaredSidecarAsync(ulong checkpointId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(EntryExists(SidecarPathOf(checkpointId)));

    /// <summary>The manifest of <paramref name="id"/>, read synchronously (the file reads complete synchronously).</summary>
    public CheckpointManifest? Load(ulong id) => Completed(LoadAsync(id));

    /// <summary>Waits for a task of this type, whose raw reads are synchronous: it is complete when returned.</summary>
    public static T Completed<T>(ValueTask<T> task)
    {
        Debug.Assert(task.IsCompleted, "The file store's raw reads are synchronous.");
        return task.GetAwaiter().GetResult();
    }

    /// <summary><c>SafeFile.ReadAll</c>, with I/O errors (EIO, a vanished directory) reported as <see cref="CheckpointException"/>.</summary>
    public static byte[]? ReadFile(string path, long maxBytes)
    {
        try
        {
            // Not SafeFile.Rules.SingleLink: a manifest is published with link(2) and then loses its temp name, so for an
            // instant it has two; the store never writes through an existing file, so a second name redirects nothing.
            return SafeFile.ReadAll(path, maxBytes, SafeFile.Rules.Private | SafeFile.Rules.OwnedByUser);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException(
                CheckpointErrorCode.ReadFailed,
                $"Could not read '{path}': {ex.Message}. The checkpoint cannot be used until it is readable; check the disk and the file's owner.",
                ex)
            { Path = path };
        }
    }

    /// <summary>Reads the latest pointer: its id, or the problem with it; (null, null) when there is none.</summary>
    /// <exception cref="CheckpointException">The pointer is a link or has insecure permissions.</exception>
    public LatestPointerReading ReadPointer()
    {
        byte[]? bytes;
        try
        {
            bytes = ReadFile(LatestPointerPath, MaxPointerBytes);
        }
        catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.RecordTooLarge)
        {
            return new(null, $"is larger than {MaxPointerBytes} bytes, so it is not a pointer written by this library");
        }

        if (bytes is null)
        {
            return new(null, null);
        }

        var text = Encoding.ASCII.GetString(bytes).Trim();
        if (text.Length == 0)
        {
            return new(null, "is empty");
        }

        return text.Length <= 20 && text.All(char.IsAsciiDigit) && ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0
            ? new(id, null)
            : new(null, $"holds '{(text.Length > 40 ? text[..40] + "…" : text)}', which is not a checkpoint id");
    }

    /// <summary>The checkpoint directories, ascending by id; names that are not canonical checkpoint names and links are ignored.</summary>
    public List<CheckpointDirectory> Scan()
    {
        var result = new List<CheckpointDirectory>();
        if (!Directory.Exists(CheckpointsDirectory))
        {
            return result;
        }

        RefuseLink(CheckpointsDirectory);
        foreach (var directory in new DirectoryInfo(CheckpointsDirectory).EnumerateDirectories(DirectoryPrefix + "*"))
        {
            if (directory.LinkTarget is not null || !TryParseDirectoryName(directory.Name, out var id))
            {
                continue;
            }

            result.Add(new CheckpointDirectory(id, directory.FullName, EntryExists(Path.Combine(directory.FullName, ManifestFormat.FileName))));
        }

        result.Sort((a, b) => a.Id.CompareTo(b.Id));
        return result;
    }

    public static string DirectoryNameOf(ulong id) => DirectoryPrefix + id.ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>Parses <c>checkpoint_000042</c>; only the canonical spelling of an id ≥ 1 is accepted, so two names never alias one id.</summary>
    public static bool TryParseDirectoryName(string name, out ulong id)
    {
        id = 0;
        if (!name.StartsWith(DirectoryPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var digits = name.AsSpan(DirectoryPrefix.Length);
        foreach (var c in digits)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out id)
            && id > 0
            && string.Equals(DirectoryNameOf(id), name, StringComparison.Ordinal);
    }

    public static void RefuseLink(string path)
    {
        if (new DirectoryInfo(path).LinkTarget is not null)
        {
            throw DurableFile.SymlinkRefused(path);
        }
    }

    public static bool EntryExists(string path)
    {
        var info = new FileInfo(path);
        return info.Exists || info.LinkTarget is not null;
    }

    internal readonly record struct CheckpointDirectory(ulong Id, string Path, bool HasManifest);
}
