using Cdc.Checkpoint.Postgres.Store;
using Npgsql;

namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>A table store registered by name, with the data source it owns: a consumer writes its sink transactions through it.</summary>
internal sealed record PostgresStoreRegistration(PostgresCheckpointStore Store, NpgsqlDataSource DataSource, PostgresCheckpointStoreRegistrationOptions Options);
