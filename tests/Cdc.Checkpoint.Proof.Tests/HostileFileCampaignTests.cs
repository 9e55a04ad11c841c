using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using Cdc.Checkpoint.Cursors;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Internal;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Proof.Tests.Support;
using Cdc.Checkpoint.Torture;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests;

/// <summary>
/// Issue 17 proof: a hostile-file campaign through the public API. Every file kind the library reads (lease, record,
/// audit log, cursor, manifest, latest pointer) is replaced by every hostile thing (FIFO, socket, directory, links to a
/// file, to a directory, dangling and looping, a hard link, a file of another user): each is a typed refusal whose code
/// names the problem, nothing hangs, and no byte of the directory (nor of a hard-linked or linked-to file) changes.
/// A group/other-writable directory is never written by any store. (The same campaign through the CLI is
/// Cdc.Checkpoint.Cli.Tests.HostileFileCliTests.)
/// </summary>
public sealed class HostileFileCampaignTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _root = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Store => Path.Combine(_root.Path, "store");

    private string Victim => Path.Combine(_root.Path, "victim");

    private readonly HostileFiles _planter = new();

    public void Dispose()
    {
        _planter.Dispose();
        _root.Dispose();
    }

    public static readonly string[] Kinds = ["lease", "record", "audit", "cursor", "manifest", "latest"];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in Kinds)
        {
            foreach (var variant in HostileFiles.Variants)
            {
                // The manifest store publishes manifests with link(2) and replaces the pointer by rename, so it never
                // writes through an existing name: a second hard link of those files redirects nothing and is allowed.
                if (variant == "hard-link" && kind is "manifest" or "latest")
                {
                    continue;
                }

                data.Add(kind, variant);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Open_HostileFileWhereACheckpointFileBelongs_TypedRefusalNothingChanged(string kind, string variant)
    {
        Directory.CreateDirectory(Store, DurableFile.PrivateDirectoryMode);
        var target = await SetUpAsync(kind);
        await _planter.PlantAsync(target, Victim, variant, Ct);
        var before = Snapshot(kind);
        var victimBefore = Snapshot(Victim);

        var operation = Task.Run(() => OperateAsync(kind), Ct);
        (await Task.WhenAny(operation, Task.Delay(TimeSpan.FromSeconds(30), Ct))).ShouldBe(operation, "nothing may block on a hostile file");
        var ex = await Should.ThrowAsync<CheckpointException>(operation);
        output.WriteLine($"{kind} / {variant}: {ex.ErrorCode}: {ex.Message}");

        ex.ErrorCode.ShouldBe(
            variant switch
            {
                "fifo" or "socket" or "directory" or "hard-link" => CheckpointErrorCode.UnsafeFile,
                "foreign-owner" => CheckpointErrorCode.PermissionDenied,
                _ => CheckpointErrorCode.SymbolicLinkRefused,
            },
            ex.Message);
        ex.Message.ShouldContain(Path.GetFileName(target));
        Snapshot(kind).ShouldBe(before, "no byte of the store may change");
        Snapshot(Victim).ShouldBe(victimBefore, "no byte of a linked file may change");
    }

    public static TheoryData<string> Stores => ["file", "cursor", "manifest"];

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Save_DirectoryWritableByGroupAndOthers_InsecurePermissionsWithChmodNothingWritten(string store)
    {
        Directory.CreateDirectory(Store, DurableFile.PrivateDirectoryMode);
        var directory = store switch
        {
            "manifest" => Path.Combine(Store, FileManifestStore.CheckpointsDirectoryName),
            "cursor" => new CursorCheckpointStore(Store).CursorDirectory,
            _ => Store,
        };
        if (store == "manifest")
        {
            await SaveManifestAsync(1);
        }
        else if (store == "cursor")
        {
            await new CursorCheckpointStore(Store).SaveAsync("orders", CursorCheckpoint.At(4, "consumer-a"), Ct);
        }

        File.SetUnixFileMode(directory, (UnixFileMode)0x1FF); // 0777
        var before = Snapshot(Store);

        var ex = await Should.ThrowAsync<CheckpointException>(async () =>
        {
            switch (store)
            {
                case "file":
                    using (var checkpoint = new FileCheckpoint(Store, TortureOffsets.Options()))
                    {
                        await checkpoint.SaveAsync(TortureOffsets.At(1), 1, Ct);
                    }

                    break;
                case "cursor":
                    await new CursorCheckpointStore(Store).SaveAsync("orders", CursorCheckpoint.At(5, "consumer-a"), Ct);
                    break;
                default:
                    await SaveManifestAsync(2);
                    break;
            }
        });

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.InsecurePermissions, ex.Message);
        ex.Message.ShouldContain("chmod 700");
        Snapshot(Store).ShouldBe(before);
    }

    private async Task<string> SetUpAsync(string kind)
    {
        switch (kind)
        {
            case "lease" or "record" or "audit":
                using (var checkpoint = new FileCheckpoint(Store, TortureOffsets.Options()))
                {
                    await checkpoint.SaveAsync(TortureOffsets.At(2), 2, Ct);
                    if (kind == "audit")
                    {
                        await checkpoint.RewindAsync(TortureOffsets.At(1), 1, "campaign set-up", Ct);
                    }
                }

                return Path.Combine(Store, kind switch
                {
                    "lease" => FileCheckpoint.LeaseFileName,
                    "record" => TortureOffsets.RecordFileName,
                    _ => FileCheckpoint.AuditLogFileName,
                });
            case "cursor":
                var cursors = new CursorCheckpointStore(Store);
                await cursors.SaveAsync("orders", CursorCheckpoint.At(5, "consumer-a"), Ct);
                return cursors.GetPath("orders");
            default:
                await SaveManifestAsync(1);
                var manifests = new FileManifestStore(Store);
                return kind == "manifest"
                    ? Path.Combine(manifests.GetCheckpointDirectory(1), ManifestFormat.FileName)
                    : Path.Combine(manifests.CheckpointsDirectory, FileManifestStore.LatestPointerFileName);
        }
    }

    private async Task SaveManifestAsync(ulong id)
    {
        await new FileManifestStore(Store).SaveAsync(
            new CheckpointManifest
            {
                CheckpointId = id,
                Epoch = 1,
                CreatedAt = DateTimeOffset.UnixEpoch,
                SourceOffsets = ImmutableSortedDictionary.CreateRange(
                    StringComparer.Ordinal,
                    [new KeyValuePair<string, SourcePosition>("pg", new SourcePosition(TortureOffsets.At(id), id))]),
            },
            cancellationToken: Ct);
    }

    private async Task OperateAsync(string kind)
    {
        switch (kind)
        {
            case "lease" or "record":
                using (var checkpoint = new FileCheckpoint(Store, TortureOffsets.Options()))
                {
                    await checkpoint.LoadLatestAsync(Ct);
                }

                break;
            case "audit":
                using (var checkpoint = new FileCheckpoint(Store, TortureOffsets.Options()))
                {
                    await checkpoint.RewindAsync(TortureOffsets.At(0), 0, "campaign", Ct);
                }

                break;
            case "cursor":
                await new CursorCheckpointStore(Store).LoadAsync("orders", "consumer-a", Ct);
                break;
            case "manifest":
                await new FileManifestStore(Store).LoadAsync(1, Ct);
                break;
            default:
                await new FileManifestStore(Store).LoadLatestAsync(Ct);
                break;
        }
    }

    /// <summary>
    /// Every entry under the store (or one file), without following links: type, mode, owner, link count, link target
    /// and, for regular files, size, mtime and SHA-256. The lease file is left out unless it is the target: taking the
    /// lease rewrites it by design.
    /// </summary>
    private string Snapshot(string kindOrPath)
    {
        var root = kindOrPath.StartsWith('/') ? kindOrPath : Store;
        if (!Path.Exists(root) && new FileInfo(root).LinkTarget is null)
        {
            return "(none)";
        }

        var entries = new List<string> { Describe(root, ".") };
        if (Directory.Exists(root) && new DirectoryInfo(root).LinkTarget is null)
        {
            var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
            foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", options))
            {
                if (entry.Name == FileCheckpoint.LeaseFileName && kindOrPath != "lease")
                {
                    continue;
                }

                entries.Add(Describe(entry.FullName, Path.GetRelativePath(root, entry.FullName)));
            }
        }

        entries.Sort(StringComparer.Ordinal);
        return string.Join('\n', entries);
    }

    private static string Describe(string path, string name)
    {
        LibC.Lstat(path, out var status).ShouldBe(0, path);
        var text = string.Create(CultureInfo.InvariantCulture, $"{name} mode={status.Mode:x} uid={status.OwnerId} links={status.Links}");
        if (new FileInfo(path).LinkTarget is { } target)
        {
            return $"{text} -> {target}";
        }

        return status.IsRegularFile
            ? string.Create(CultureInfo.InvariantCulture, $"{text} size={status.Size} mtime={status.ModifiedTicks} sha={Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)))}")
            : text;
    }
}
