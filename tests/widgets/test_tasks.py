"""Background tasks of widgets run on the loop the widget was made on, whoever calls spawn."""

from __future__ import annotations

import asyncio
import threading

from flux_widgets.widgets._tasks import TaskSet


async def test_spawn_from_another_threads_loop_runs_on_the_home_loop() -> None:
    # JupyterLab 4.4+ with ipykernel 7 may run a widget callback on a kernel subshell: another
    # thread with its own event loop. The task must still run on the widget's (the cell's) loop.
    home = asyncio.get_running_loop()
    tasks = TaskSet()
    ran_on: list[asyncio.AbstractEventLoop] = []
    done = asyncio.Event()

    async def job() -> None:
        ran_on.append(asyncio.get_running_loop())
        done.set()

    def callback_on_a_subshell() -> None:
        async def click() -> None:
            tasks.spawn(job())

        asyncio.run(click())

    thread = threading.Thread(target=callback_on_a_subshell)
    thread.start()
    await asyncio.to_thread(thread.join)
    await asyncio.wait_for(done.wait(), 5)
    assert ran_on == [home]
    await tasks.wait()
    assert len(tasks) == 0


async def test_failures_of_a_task_spawned_from_another_thread_are_reported() -> None:
    errors: list[BaseException] = []
    tasks = TaskSet(on_error=errors.append)

    async def broken() -> None:
        raise ValueError("shown in the widget")

    thread = threading.Thread(target=lambda: asyncio.run(_spawn(tasks, broken())))
    thread.start()
    await asyncio.to_thread(thread.join)
    for _ in range(100):
        if errors:
            break
        await asyncio.sleep(0.01)
    assert [str(e) for e in errors] == ["shown in the widget"]


async def _spawn(tasks: TaskSet, coro: object) -> None:
    tasks.spawn(coro)  # type: ignore[arg-type]
