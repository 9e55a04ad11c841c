namespace Cdc.Checkpoint.TestServers.MariaDb;

/// <summary>How a throwaway MariaDB server is configured (see <see cref="MariaDbTestServer.StartNewAsync"/>).</summary>
public sealed class MariaDbTestServerOptions
{
    private readonly uint _serverId = 1;
    private readonly TimeSpan _startTimeout = TimeSpan.FromSeconds(60);

    /// <summary><c>server_id</c>, the middle part of every GTID this server writes.</summary>
    /// <value>1 (the shared server's id). <see cref="MariaDbTestServer.StartNewAsync"/> without options picks a fresh id.</value>
    public uint ServerId
    {
        get => _serverId;
        init
        {
            ArgumentOutOfRangeException.ThrowIfZero(value);
            _serverId = value;
        }
    }

    /// <summary><c>gtid_domain_id</c>, the first part of every GTID this server writes.</summary>
    /// <value>0.</value>
    public uint GtidDomainId { get; init; }

    /// <summary>
    /// Extra <c>key=value</c> lines appended to the server's <c>[mariadbd]</c> section, e.g. <c>max_binlog_size=4096</c>
    /// for rotation tests or <c>gtid_strict_mode=OFF</c>. Later lines override the defaults.
    /// </summary>
    /// <value>Empty.</value>
    public IReadOnlyList<string> ExtraSettings { get; init; } = [];

    /// <summary>How long to wait for the started server to answer.</summary>
    /// <value>60 seconds (the machine may be busy running other tests).</value>
    public TimeSpan StartTimeout
    {
        get => _startTimeout;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _startTimeout = value;
        }
    }
}
