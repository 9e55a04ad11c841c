using System.Diagnostics.CodeAnalysis;
using Cdc.Checkpoint;
using Cdc.Checkpoint.Hosting;
using Cdc.Checkpoint.Hosting.Consumers;
using Cdc.Checkpoint.Offsets;
using Cdc.Checkpoint.Postgres;
using Cdc.Checkpoint.Postgres.Hosting;
using Cdc.Checkpoint.Postgres.Store;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

#pragma warning disable IDE0130 // Extension methods live in the namespace of what they extend, as Microsoft.Extensions.* do.
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>Registers PostgreSQL checkpoint stores and hosted PostgreSQL replication consumers.</summary>
public static class PostgresHostingServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="PostgresCheckpointStore"/> named <paramref name="name"/> (a keyed
    /// <see cref="ICheckpointStore"/> and <see cref="PostgresCheckpointStore"/>), its options bound from
    /// <paramref name="configuration"/>. A hosted consumer using it commits its sink's writes and the checkpoint in one
    /// transaction.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store name (the service key; also the default checkpoint name).</param>
    /// <param name="configuration">The section holding <see cref="PostgresCheckpointStoreRegistrationOptions"/>.</param>
    /// <param name="configure">Further configuration in code, applied after binding.</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="InvalidOperationException">A store named <paramref name="name"/> is already registered.</exception>
    public static IServiceCollection AddPostgresCheckpointStore(this IServiceCollection services, string name, IConfiguration configuration, Action<PostgresCheckpointStoreRegistrationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddStore(services, name, configuration, configure);
    }

    /// <summary>Registers a <see cref="PostgresCheckpointStore"/> named <paramref name="name"/>, configured in code.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The store name (the service key; also the default checkpoint name).</param>
    /// <param name="configure">Sets the options (at least the connection string).</param>
    /// <returns>The services, for chaining.</returns>
    /// <exception cref="InvalidOperationException">A store named <paramref name="name"/> is already registered.</exception>
    public static IServiceCollection AddPostgresCheckpointStore(this IServiceCollection services, string name, Action<PostgresCheckpointStoreRegistrationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return AddStore(services, name, null, configure);
    }

    /// <summary>
    /// Registers a hosted PostgreSQL replication consumer named <paramref name="name"/> whose transactions are applied by
    /// <typeparamref name="THandler"/> (created through the container, once per stream, in a scope of its own).
    /// </summary>
    /// <typeparam name="THandler">The handler type.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The consumer name (logs, health check, default store name).</param>
    /// <param name="configuration">The section holding <see cref="PostgresReplicationConsumerOptions"/>.</param>
    /// <param name="configure">Further configuration in code, applied after binding.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddPostgresReplicationConsumer<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] THandler>(this IServiceCollection services, string name, IConfiguration configuration, Action<PostgresReplicationConsumerOptions>? configure = null)
        where THandler : class, IPostgresTransactionHandler
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return AddConsumer(services, name, configuration, configure, sp => ActivatorUtilities.GetServiceOrCreateInstance<THandler>(sp));
    }

    /// <summary>Registers a hosted PostgreSQL replication consumer named <paramref name="name"/> whose transactions are applied by <paramref name="handler"/>.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The consumer name (logs, health check, default store name).</param>
    /// <param name="configuration">The section holding <see cref="PostgresReplicationConsumerOptions"/>.</param>
    /// <param name="handler">Applies one committed transaction to the sink.</param>
    /// <param name="configure">Further configuration in code, applied after binding.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddPostgresReplicationConsumer(this IServiceCollection services, string name, IConfiguration configuration, Func<PostgresTransaction, CancellationToken, ValueTask> handler, Action<PostgresReplicationConsumerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(handler);
        return AddConsumer(services, name, configuration, configure, _ => new DelegateHandler(handler));
    }

    /// <summary>Registers a hosted PostgreSQL replication consumer named <paramref name="name"/>, configured in code.</summary>
    /// <param name="services">The services.</param>
    /// <param name="name">The consumer name (logs, health check, default store name).</param>
    /// <param name="configure">Sets the options (at least connection string, slot and publications).</param>
    /// <param name="handler">Applies one committed transaction to the sink.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddPostgresReplicationConsumer(this IServiceCollection services, string name, Action<PostgresReplicationConsumerOptions> configure, Func<PostgresTransaction, CancellationToken, ValueTask> handler)
    {
        ArgumentNullException.ThrowIfNull(configure);
        ArgumentNullException.ThrowIfNull(handler);
        return AddConsumer(services, name, null, configure, _ => new DelegateHandler(handler));
    }

    private static IServiceCollection AddConsumer(
        IServiceCollection services,
        string name,
        IConfiguration? configuration,
        Action<PostgresReplicationConsumerOptions>? configure,
        Func<IServiceProvider, IPostgresTransactionHandler> handlerFactory)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ValidatedOptions.Add<PostgresReplicationConsumerOptions, PostgresReplicationConsumerOptionsValidator>(services, name, configuration, configure, static (builder, section) => builder.Bind(section));
        services.TryAddSingleton<ConsumerStatusRegistry>();

        // A file checkpoint registered without codecs of its own reads PostgreSQL offsets as such.
        services.TryAddSingleton(OffsetCodecRegistry.Empty.WithPostgres());
        services.AddSingleton<IHostedService>(sp => new PostgresReplicationConsumer(
            name,
            sp.GetRequiredService<IOptionsMonitor<PostgresReplicationConsumerOptions>>().Get(name),
            sp,
            handlerFactory));
        return services;
    }

    private static IServiceCollection AddStore(IServiceCollection services, string name, IConfiguration? configuration, Action<PostgresCheckpointStoreRegistrationOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ValidatedOptions.Add<PostgresCheckpointStoreRegistrationOptions, PostgresCheckpointStoreRegistrationOptionsValidator>(services, name, configuration, configure, static (builder, section) => builder.Bind(section));
        services.AddKeyedSingleton(name, (sp, _) =>
        {
            var options = sp.GetRequiredService<IOptionsMonitor<PostgresCheckpointStoreRegistrationOptions>>().Get(name);
            var loggerFactory = sp.GetService<ILoggerFactory>();
            var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
            if (loggerFactory is not null)
            {
                builder.UseLoggerFactory(loggerFactory);
            }

            var dataSource = builder.Build();
            var store = new PostgresCheckpointStore(
                dataSource,
                options.CheckpointName ?? name,
                new PostgresCheckpointStoreOptions { Schema = options.Schema, TableName = options.TableName },
                loggerFactory,
                sp.GetService<TimeProvider>());
            return new PostgresStoreRegistration(store, dataSource, options);
        });

        // The container disposes the data source with the registration's keyed NpgsqlDataSource service.
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<PostgresStoreRegistration>(key).DataSource);
        services.AddKeyedSingleton(name, (sp, key) => sp.GetRequiredKeyedService<PostgresStoreRegistration>(key).Store);
        return services.AddCdcCheckpointStore(name, sp => sp.GetRequiredKeyedService<PostgresStoreRegistration>(name).Store);
    }

    private sealed class DelegateHandler(Func<PostgresTransaction, CancellationToken, ValueTask> handler) : IPostgresTransactionHandler
    {
        public ValueTask HandleAsync(PostgresTransaction transaction, CancellationToken cancellationToken) => handler(transaction, cancellationToken);
    }
}
