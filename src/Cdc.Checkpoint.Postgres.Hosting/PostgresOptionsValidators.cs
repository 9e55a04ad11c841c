using Cdc.Checkpoint.Hosting;
using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Postgres.Replication;
using Cdc.Checkpoint.Postgres.Store;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Cdc.Checkpoint.Postgres.Hosting;

/// <summary>Validates a consumer's options when the host starts; every message names the configuration key and the fix.</summary>
internal sealed class PostgresReplicationConsumerOptionsValidator(IEnumerable<ConfigurationKeys> keys) : HostedConsumerOptionsValidator<PostgresReplicationConsumerOptions>(keys)
{
    protected override string DescribeConsumer(string? name) => $"PostgreSQL replication consumer '{name}'";

    protected override void ValidateSource(PostgresReplicationConsumerOptions options, ConfigurationKeys key, string prefix, IList<string> errors)
    {
        PostgresHostingValidation.ConnectionString(options.ConnectionString, key.Of(nameof(options.ConnectionString)), prefix, "the database whose changes are streamed", errors);
        if (string.IsNullOrWhiteSpace(options.SlotName))
        {
            errors.Add($"{prefix} {key.Of(nameof(options.SlotName))} is required: the logical replication slot (created on the first start).");
        }
        else if (!PostgresOffset.IsValidSlotName(options.SlotName))
        {
            errors.Add($"{prefix} {key.Of(nameof(options.SlotName))} '{options.SlotName}' is not a valid slot name: use 1-63 lower-case letters, digits and underscores.");
        }

        if (options.Publications.Count == 0 || options.Publications.Any(string.IsNullOrWhiteSpace))
        {
            errors.Add($"{prefix} {key.Of(nameof(options.Publications))} must name at least one publication (an array; no empty names), for example [\"orders_pub\"].");
        }

        if (options.IdleAdvanceInterval <= TimeSpan.Zero && options.IdleAdvanceInterval != Timeout.InfiniteTimeSpan)
        {
            errors.Add($"{prefix} {key.Of(nameof(options.IdleAdvanceInterval))} must be positive, not {options.IdleAdvanceInterval}.");
        }

        if (options.AcknowledgeLag is < 0 or > ReplicationAcknowledgerOptions.MaxAcknowledgeLag)
        {
            errors.Add($"{prefix} {key.Of(nameof(options.AcknowledgeLag))} must be 0 to {ReplicationAcknowledgerOptions.MaxAcknowledgeLag}, not {options.AcknowledgeLag}.");
        }
    }
}

/// <summary>Validates a table store's options when the host starts.</summary>
internal sealed class PostgresCheckpointStoreRegistrationOptionsValidator(IEnumerable<ConfigurationKeys> keys) : IValidateOptions<PostgresCheckpointStoreRegistrationOptions>
{
    public ValidateOptionsResult Validate(string? name, PostgresCheckpointStoreRegistrationOptions options)
    {
        var key = ConfigurationKeys.For<PostgresCheckpointStoreRegistrationOptions>(keys, name);
        var prefix = $"PostgreSQL checkpoint store '{name}':";
        var errors = new List<string>();
        PostgresHostingValidation.ConnectionString(options.ConnectionString, key.Of(nameof(options.ConnectionString)), prefix, "the database that holds the checkpoint tables", errors);
        if (options.CheckpointName is { } checkpointName && (checkpointName.Length is 0 or > PostgresCheckpointStore.MaxNameLength || checkpointName.Any(char.IsControl) || string.IsNullOrWhiteSpace(checkpointName)))
        {
            errors.Add($"{prefix} {key.Of(nameof(options.CheckpointName))} must have 1-{PostgresCheckpointStore.MaxNameLength} characters without control characters.");
        }

        try
        {
            _ = new PostgresCheckpointStoreOptions { Schema = options.Schema };
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{prefix} {key.Of(nameof(options.Schema))}: {ex.Message}");
        }

        try
        {
            _ = new PostgresCheckpointStoreOptions { TableName = options.TableName };
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{prefix} {key.Of(nameof(options.TableName))}: {ex.Message}");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

internal static class PostgresHostingValidation
{
    public static void ConnectionString(string? value, string key, string prefix, string what, ICollection<string> errors)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add($"{prefix} {key} is required: the Npgsql connection string of {what}, for example \"Host=db;Database=app;Username=cdc;Password=…\".");
            return;
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(value);
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{prefix} {key} is not a valid Npgsql connection string: {ex.Message}");
        }
    }
}
