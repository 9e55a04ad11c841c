using System.Collections.Immutable;
using System.Text.Json;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Tests.Manifests;

/// <summary>
/// A test-only ordered offset: a sequence number on a named stream. Offsets of different streams are Diverged.
/// JSON: {"stream":"a","seq":42}.
/// </summary>
internal sealed class TestSeqOffset : CheckpointOffset, ITypedOffset<TestSeqOffset>
{
    public const string Type = "test_seq";

    public TestSeqOffset(string stream, ulong seq, string sourceType = Type)
        : base(sourceType)
    {
        Stream = stream;
        Seq = seq;
    }

    public string Stream { get; }

    public ulong Seq { get; }

    public static IOffsetCodec OffsetCodec => TestSeqCodec.Instance;

    public override IOffsetCodec Codec => TestSeqCodec.Instance;

    public override OffsetOrder CompareTo(CheckpointOffset other)
    {
        if (other is not TestSeqOffset o || o.SourceType != SourceType || o.Stream != Stream)
        {
            return OffsetOrder.Diverged;
        }

        return Seq.CompareTo(o.Seq) switch { < 0 => OffsetOrder.Before, 0 => OffsetOrder.Same, _ => OffsetOrder.After };
    }

    public override void WriteJson(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("stream", Stream);
        writer.WriteNumber("seq", Seq);
        writer.WriteEndObject();
    }

    public override string ToString() => $"{Stream}#{Seq}";
}

internal sealed class TestSeqCodec : IOffsetCodec
{
    public static TestSeqCodec Instance { get; } = new();

    public bool CanRead(string sourceType) => sourceType is TestSeqOffset.Type or "test_seq_snapshot";

    public CheckpointOffset Read(string sourceType, JsonElement offset, int formatVersion)
    {
        if (offset.ValueKind != JsonValueKind.Object
            || !offset.TryGetProperty("stream", out var stream) || stream.ValueKind != JsonValueKind.String
            || !offset.TryGetProperty("seq", out var seq) || !seq.TryGetUInt64(out var value))
        {
            throw new FormatException($"Not a test_seq offset: '{offset.GetRawText()}'");
        }

        return new TestSeqOffset(stream.GetString()!, value, sourceType);
    }
}

internal static class Manifests
{
    public static readonly DateTimeOffset T0 = new(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);

    public static OffsetCodecRegistry Codecs { get; } = OffsetCodecRegistry.Empty.With(TestSeqCodec.Instance);

    public static CheckpointManifest Make(ulong id, ulong epoch) => new()
    {
        CheckpointId = id,
        Epoch = epoch,
        CreatedAt = T0.AddSeconds(id),
    };

    public static CheckpointManifest WithSources(ulong id, params (string Name, CheckpointOffset Offset)[] sources) => new()
    {
        CheckpointId = id,
        Epoch = id,
        CreatedAt = T0.AddSeconds(id),
        SourceOffsets = sources.ToImmutableSortedDictionary(s => s.Name, s => new SourcePosition(s.Offset), StringComparer.Ordinal),
    };

    public static FileManifestStore Store(TempDirectory dir, int retain = 10) =>
        new(dir.Path, new FileManifestStoreOptions { RetainCount = retain, Codecs = Codecs });

    public static string ManifestPath(TempDirectory dir, ulong id) =>
        dir.Combine("checkpoints", FileManifestStore.DirectoryNameOf(id), "manifest.json");

    /// <summary>Writes a file the way an operator or a bug might: plain write, then 0600 so only the contents are wrong.</summary>
    public static void WritePrivate(string path, string contents) => WritePrivate(path, System.Text.Encoding.UTF8.GetBytes(contents));

    public static void WritePrivate(string path, byte[] contents)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, contents);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
