using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Cdc.Checkpoint.TestServers;

/// <summary>
/// Proves that a statement is waiting for a row lock, instead of sleeping and hoping it is: polls the server (bounded)
/// until another session waits for a lock that a given session holds. Polls on fresh connections outside any
/// transaction, because PostgreSQL keeps one <c>pg_stat_activity</c> snapshot for a whole transaction.
/// </summary>
public static class LockWaits
{
    /// <summary>How long to wait for the blocked session to show up before failing (the waits are milliseconds).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Waits until a PostgreSQL client backend whose query mentions <paramref name="queryContains"/> shows
    /// <c>wait_event_type = 'Lock'</c> in <c>pg_stat_activity</c> and is blocked by the backend
    /// <paramref name="holderProcessId"/> (<c>pg_blocking_pids</c>), so another test's lock wait cannot be mistaken for
    /// this one. Both filters matter: any open transaction with an xid also blocks sessions that wait for every running
    /// transaction to end, such as another test's <c>CREATE_REPLICATION_SLOT</c> building its snapshot (seen in CI).
    /// </summary>
    /// <param name="dataSource">The server (any database on it).</param>
    /// <param name="holderProcessId">The backend holding the lock: <see cref="NpgsqlConnection.ProcessID"/> of the open transaction.</param>
    /// <param name="queryContains">Text the blocked session's query contains (compared case-insensitively), e.g. the table it writes.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The query text of the blocked backend.</returns>
    /// <exception cref="TimeoutException">No such backend waited on that lock within <see cref="DefaultTimeout"/>.</exception>
    public static Task<string> PostgresAsync(NpgsqlDataSource dataSource, int holderProcessId, string queryContains, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrEmpty(queryContains);
        return PollAsync(
            () => dataSource.OpenConnectionAsync(cancellationToken).AsTask(),
            """
            SELECT query FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND backend_type = 'client backend'
              AND strpos(lower(COALESCE(query, '')), lower($2)) > 0
              AND $1 = ANY (pg_blocking_pids(pid))
            LIMIT 1
            """,
            command =>
            {
                command.Parameters.Add(new NpgsqlParameter { Value = holderProcessId });
                command.Parameters.Add(new NpgsqlParameter { Value = queryContains });
            },
            $"PostgreSQL backend {holderProcessId.ToString(CultureInfo.InvariantCulture)} (a query mentioning '{queryContains}')",
            cancellationToken);
    }

    private static async Task<string> PollAsync<TConnection>(
        Func<Task<TConnection>> open, string sql, Action<DbCommand> bind, string holder, CancellationToken cancellationToken)
        where TConnection : DbConnection
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            await using (var connection = await open().ConfigureAwait(false))
            await using (var command = connection.CreateCommand())
            {
                command.CommandText = sql;
                bind(command);
                if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is string query)
                {
                    return query;
                }
            }

            if (Stopwatch.GetElapsedTime(started) > DefaultTimeout)
            {
                throw new TimeoutException($"No session waited for a lock held by {holder} within {DefaultTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s. Sessions: {await DescribeSessionsAsync(open, cancellationToken).ConfigureAwait(false)}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>What every session of the server is doing, for the failure message (best effort).</summary>
    private static async Task<string> DescribeSessionsAsync<TConnection>(Func<Task<TConnection>> open, CancellationToken cancellationToken)
        where TConnection : DbConnection
    {
        try
        {
            await using var connection = await open().ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT pid::text || ' ' || COALESCE(state, '') || ' ' || COALESCE(wait_event_type, '') || ' ' || LEFT(COALESCE(query, ''), 80) FROM pg_stat_activity";
            var lines = new List<string>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                lines.Add(reader.GetString(0));
            }

            return string.Join(" | ", lines);
        }
        catch (DbException ex)
        {
            return "(could not list them: " + ex.Message + ")";
        }
    }
}
