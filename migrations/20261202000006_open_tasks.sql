-- The open tasks of everyone, newest first (the console's task list, GET
-- /tasks?assignee=&status=open): a page and a capped count (total_limit) read
-- this index alone instead of sorting or scanning a million open tasks. Only
-- open rows are in it, so a decided task leaves it.
CREATE INDEX approval_task_open ON approval_task (created_at DESC, id DESC) WHERE status = 'open';
