using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.Postgres;

/// <summary>Registers the PostgreSQL offset codec.</summary>
public static class PostgresOffsetCodecRegistryExtensions
{
    /// <summary>Returns a registry that also reads <c>postgres</c> and <c>postgres_snapshot</c> offsets as <see cref="PostgresOffset"/>.</summary>
    /// <param name="registry">The registry.</param>
    /// <returns>The new registry.</returns>
    /// <example><c>var codecs = OffsetCodecRegistry.Empty.WithPostgres();</c></example>
    public static OffsetCodecRegistry WithPostgres(this OffsetCodecRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return registry.With(PostgresOffsetCodec.Instance);
    }
}
