import { Link } from 'react-router';

export default function NotFound() {
  return (
    <div className="card">
      <h1>Page not found</h1>
      <p>
        There is no console page here. <Link to="/">Go to the overview</Link>.
      </p>
    </div>
  );
}
