// The integration tests spend most of their time waiting on child 'dotnet build' processes, each
// in its own folder; two at a time roughly halves the wall time without starving the machine.
[assembly: Parallelize(Workers = 2, Scope = ExecutionScope.MethodLevel)]
