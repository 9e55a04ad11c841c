using System.Data.Common;
using System.Globalization;
using Cdc.Checkpoint.Internal;

namespace Cdc.Checkpoint.Tables;

/// <summary>
/// A table store's side of fencing: the epoch this instance owns, its acquisition (explicit, or once by the first save),
/// and the check every full-path save makes against the fence row it locked.
/// </summary>
internal sealed class TableFence
{
    private readonly DbDataSource _dataSource;
    private readonly ITableDialect _dialect;
    private readonly TableStoreErrors _errors;
    private readonly TableStoreLog _log;
    private readonly TimeProvider _timeProvider;
    private readonly KnownRows _known;
    private readonly FirstAcquisition _firstAcquisition;
    private readonly string _name;
    private readonly string _tableName;
    private readonly string _owner;
    private long _epoch;

    public TableFence(DbDataSource dataSource, ITableDialect dialect, TableStoreErrors errors, TableStoreLog log, TimeProvider timeProvider, KnownRows known, string name, string tableName, string owner)
    {
        _dataSource = dataSource;
        _dialect = dialect;
        _errors = errors;
        _log = log;
        _timeProvider = timeProvider;
        _known = known;
        _name = name;
        _tableName = tableName;
        _owner = owner;
        _firstAcquisition = new FirstAcquisition(AcquireAsync);
    }

    /// <summary>The epoch this instance owns, or 0 before the first acquisition.</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>Increments the name's epoch and makes it this instance's.</summary>
    public async Task<long> AcquireAsync(CancellationToken cancellationToken)
    {
        long epoch;
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                epoch = await _dialect.IncrementEpochAsync(connection, _owner, _timeProvider.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            }
            catch (DbException ex) when (_errors.IsMisconfiguration(ex))
            {
                throw _errors.Misconfigured(ex);
            }
            catch (FormatException ex)
            {
                throw _errors.CorruptFence(ex.Message);
            }
        }

        if (Interlocked.Exchange(ref _epoch, epoch) != 0)
        {
            // Whatever this instance knew was under its old epoch; another owner may have written since.
            _known.Clear();
        }

        _log.EpochAcquired(_name, _tableName, epoch);
        return epoch;
    }

    /// <summary>The epoch this instance owns, acquiring the name once first when it owns none yet.</summary>
    public ValueTask<long> EnsureAsync(CancellationToken cancellationToken) => _firstAcquisition.EnsureAsync(Epoch, cancellationToken);

    /// <summary>Throws <see cref="CheckpointErrorCode.StaleEpoch"/> unless the locked fence row still holds <paramref name="epoch"/>.</summary>
    public void Check(long epoch, long? locked)
    {
        if (locked == epoch)
        {
            return;
        }

        var current = locked ?? 0;
        _log.StaleEpoch(_name, epoch, current);
        throw new CheckpointException(
            CheckpointErrorCode.StaleEpoch,
            string.Create(CultureInfo.InvariantCulture, $"Refusing to save checkpoint {_errors.Where}: this owner holds fencing epoch {epoch}, but the name is now at epoch {current} — another owner has taken over. Stop this consumer; the new owner continues from the stored checkpoint."));
    }
}
