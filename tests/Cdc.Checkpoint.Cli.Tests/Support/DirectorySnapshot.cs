using System.Globalization;
using System.Security.Cryptography;
using Shouldly;

namespace Cdc.Checkpoint.Cli.Tests.Support;

/// <summary>
/// Every entry under a directory, recursively: kind, permission bits, link target, modification time and the SHA-256
/// of the bytes. Two equal snapshots mean nothing was written, renamed, created, removed or chmod-ed. The lease file is
/// included: this test process reads it without a flock (System.IO.DisableFileLocking), even while another process
/// holds it.
/// </summary>
public sealed class DirectorySnapshot
{
    private readonly List<string> _entries;

    private DirectorySnapshot(List<string> entries) => _entries = entries;

    public static DirectorySnapshot Take(string root)
    {
        var entries = new List<string> { Describe(new DirectoryInfo(root), ".") };
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
        foreach (var entry in new DirectoryInfo(root).EnumerateFileSystemInfos("*", options))
        {
            entries.Add(Describe(entry, Path.GetRelativePath(root, entry.FullName)));
        }

        entries.Sort(StringComparer.Ordinal);
        return new DirectorySnapshot(entries);
    }

    public void ShouldBeUnchangedSince(DirectorySnapshot before) =>
        string.Join("\n", _entries).ShouldBe(string.Join("\n", before._entries), "the directory changed");

    public bool Contains(string relativePath) => _entries.Any(e => e.StartsWith(relativePath + " ", StringComparison.Ordinal));

    private static string Describe(FileSystemInfo entry, string name)
    {
        if (entry.LinkTarget is { } target)
        {
            return $"{name} link -> {target}";
        }

        var mode = Convert.ToString((int)entry.UnixFileMode, 8);
        var mtime = entry.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture);
        return entry is DirectoryInfo
            ? $"{name} dir {mode}"
            : $"{name} file {mode} {mtime} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(entry.FullName)))}";
    }
}
