using Cdc.Checkpoint.Offsets;

namespace Cdc.Checkpoint.MySql;

/// <summary>Registers the MySQL and MariaDB offset codecs.</summary>
public static class MySqlOffsetCodecRegistryExtensions
{
    /// <summary>
    /// Returns a registry that also reads the <c>mysql</c> family as <see cref="MySqlOffset"/> and the <c>mariadb</c>
    /// family as <see cref="MariaDbOffset"/>.
    /// </summary>
    /// <param name="registry">The registry to extend.</param>
    /// <returns>The new registry (the same one when both codecs are already registered).</returns>
    /// <example><c>var codecs = OffsetCodecRegistry.Empty.WithMySql();</c></example>
    public static OffsetCodecRegistry WithMySql(this OffsetCodecRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        return registry.With(MySqlOffsetCodec.Instance).With(MariaDbOffsetCodec.Instance);
    }
}
