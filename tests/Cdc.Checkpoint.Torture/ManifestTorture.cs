using System.Globalization;
using System.Text;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;

namespace Cdc.Checkpoint.Torture;

/// <summary>
/// What the manifest crash torture writes: four sources committed concurrently through one
/// <see cref="CheckpointCoordinator"/>, each with a <see cref="PostgresOffset"/> that is a function of the source and
/// its event count, and an operator state per source whose bytes are a function of the same pair. A recovered
/// manifest can so be checked for coherence (every offset and state is the one of its count, of its own source) and
/// not only for progress.
/// </summary>
public static class ManifestTorture
{
    /// <summary>The source saved through <see cref="ManifestCheckpointStore.SaveAsync"/> (the <see cref="ICheckpointStore"/> adapter); its name is its source type.</summary>
    public const string AdapterSource = PostgresOffset.StreamingSourceType;

    /// <summary>Checkpoints kept by the store's automatic pruning: small, so that pruning runs on almost every save.</summary>
    public const int RetainCount = 4;

    /// <summary>Operator states up to this size stay inline; larger ones go to <c>state.bin</c> (the states are 200–399 bytes).</summary>
    public const int InlineStateLimitBytes = 256;

    /// <summary>
    /// The sources, in a fixed order: <see cref="AdapterSource"/> (through the adapter) and three reported to the
    /// coordinator directly.
    /// </summary>
    public static IReadOnlyList<string> Sources { get; } = [AdapterSource, "orders", "customers", "payments"];

    /// <summary>The operator whose state goes with <paramref name="source"/>.</summary>
    /// <param name="source">The source.</param>
    /// <returns>The operator name.</returns>
    public static string OperatorOf(string source) => "op_" + source;

    /// <summary>The offset <paramref name="source"/> reports with event count <paramref name="count"/>: its own slot, an LSN growing with the count.</summary>
    /// <param name="source">The source.</param>
    /// <param name="count">The event count.</param>
    /// <returns>The offset.</returns>
    public static PostgresOffset OffsetFor(string source, ulong count) =>
        new(TortureOffsets.LsnFor(count), "torture_" + source, TortureOffsets.SystemIdentifier, timeline: 1, database: "torture");

    /// <summary>
    /// The operator state <paramref name="source"/> sets before reporting event count <paramref name="count"/>:
    /// a header naming both, then filler derived from them, 200–399 bytes long so that some states are inline and most
    /// are in the sidecar.
    /// </summary>
    /// <param name="source">The source.</param>
    /// <param name="count">The event count.</param>
    /// <returns>The state bytes.</returns>
    public static byte[] StateFor(string source, ulong count)
    {
        var header = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{source} {count}\n"));
        var bytes = new byte[200 + (int)(count % 200)];
        header.CopyTo(bytes, 0);
        var seed = (uint)(count * 2_654_435_761UL) ^ (uint)source.Length;
        for (var i = header.Length; i < bytes.Length; i++)
        {
            seed = (seed * 1_103_515_245) + 12_345;
            bytes[i] = (byte)(seed >> 16);
        }

        return bytes;
    }

    /// <summary>Reads the count an operator state was made for, if the state is exactly <see cref="StateFor"/> of it.</summary>
    /// <param name="source">The source the state should belong to.</param>
    /// <param name="state">The state.</param>
    /// <returns>The count, or <see langword="null"/> when the bytes are not a state of <paramref name="source"/>.</returns>
    public static ulong? CountOfState(string source, ReadOnlySpan<byte> state)
    {
        var newline = state.IndexOf((byte)'\n');
        if (newline < 0)
        {
            return null;
        }

        var header = Encoding.ASCII.GetString(state[..newline]);
        var prefix = source + " ";
        if (!header.StartsWith(prefix, StringComparison.Ordinal)
            || !ulong.TryParse(header.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return null;
        }

        return state.SequenceEqual(StateFor(source, count)) ? count : null;
    }

    /// <summary>The store options of every manifest torture process.</summary>
    /// <returns>New options.</returns>
    public static FileManifestStoreOptions StoreOptions() => new()
    {
        Codecs = OffsetCodecRegistry.Empty.WithPostgres(),
        RetainCount = RetainCount,
    };

    /// <summary>The coordinator options of every manifest torture process.</summary>
    /// <returns>New options.</returns>
    public static CheckpointCoordinatorOptions CoordinatorOptions() => new()
    {
        InlineStateLimitBytes = InlineStateLimitBytes,
    };
}
