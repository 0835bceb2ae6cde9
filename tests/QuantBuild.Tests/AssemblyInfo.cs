// Test classes run in parallel; each test builds its own graphs and engines.
[assembly: Parallelize(Workers = 0, Scope = ExecutionScope.ClassLevel)]
